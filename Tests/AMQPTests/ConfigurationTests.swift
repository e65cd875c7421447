import Testing

@testable import AMQP

struct ConfigurationTests {
    @Test func osloTransportURLsAsOperatorsWriteThem() throws {
        let c = try AMQPConfiguration(
            url: "rabbit://openstack:pw1@10.0.0.1:5672,u2:p%2F2@10.0.0.2:5673,[fd00::3]//?ssl=1")
        #expect(
            c.endpoints == [
                .init(host: "10.0.0.1", port: 5672),
                .init(host: "10.0.0.2", port: 5673, username: "u2", password: "p/2"),
                .init(host: "fd00::3", port: 5671),
            ], "explicit ports stay; the default one follows ssl=1")
        #expect(c.username == "openstack" && c.password == "pw1", "the first host's credentials are the default")
        #expect(c.virtualHost == "/" && c.tls != nil && c.tls?.verifyPeer == true)
        #expect(!c.description.contains("pw1") && !c.description.contains("p/2"))
        let empty = try AMQPConfiguration(
            url: "rabbit://u:p@h1/?ssl=true&ssl_ca_file=/etc/ca.pem&heartbeat_timeout_threshold=20")
        #expect(
            empty.virtualHost == "/" && empty.endpoints.first?.port == 5671 && empty.tls?.caFile == "/etc/ca.pem"
                && empty.heartbeat == 20)
        let encoded = try AMQPConfiguration(url: "rabbit://u:p@h1:5672/nova%2Fcell1?ssl=0")
        #expect(encoded.virtualHost == "nova/cell1" && encoded.tls == nil)
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "rabbit://h1/?ssl=maybe") }
    }

    /// fuzz-transport-url's finding: with the `@` forgotten, `user:password:port` became a host name that is
    /// logged. It is refused, and the error does not repeat it.
    @Test func aHostWithAColonIsRefusedWithoutEchoingIt() {
        #expect {
            try AMQPConfiguration(url: "rabbit://openstack:s3cretpw:5672/")
        } throws: { error in
            let text = String(describing: error)
            return text.contains("IPv6 address goes in [ ]") && !text.contains("s3cretpw")
        }
        #expect((try? AMQPConfiguration(url: "amqp://[fd00::1]:5672/"))?.endpoints.first?.host == "fd00::1")
        // fuzz-transport-url: a bracketed host's port was not range-checked, and junk after `]` was ignored.
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "amqp://[fd00::1]:533535/") }
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "amqp://[fd00::1]x/") }
    }

    @Test func hostsSpreadByNodeIDStablyAndEvenly() throws {
        let url = "rabbit://u:p@c1:5672,c2:5672,c3:5672/"
        var first: [String: Int] = [:]
        for n in 0..<600 {
            var c = try AMQPConfiguration(url: url)
            c.spread(by: "compute-\(n)")
            var again = try AMQPConfiguration(url: url)
            again.spread(by: "compute-\(n)")
            #expect(c.endpoints == again.endpoints, "stable per node")
            #expect(Set(c.endpoints.map(\.host)) == ["c1", "c2", "c3"], "every host kept")
            first[c.endpoints[0].host, default: 0] += 1
        }
        for host in ["c1", "c2", "c3"] { #expect((150...250).contains(first[host] ?? 0), "\(first)") }
    }

    @Test func parsesURLsWithAliasesHostsAndTLS() throws {
        let c = try AMQPConfiguration(url: "rabbit+ssl://dms:s%40cret@h1:5671,h2/vh?heartbeat=7&cafile=/ca.pem")
        #expect(c.endpoints == [.init(host: "h1", port: 5671), .init(host: "h2", port: 5671)])
        #expect(c.username == "dms" && c.password == "s@cret" && c.virtualHost == "vh")
        #expect(c.heartbeat == 7 && c.tls?.caFile == "/ca.pem" && c.tls?.verifyPeer == true)
        #expect(!c.description.contains("s@cret") && !c.description.contains("cret"), "the password never prints")
        for scheme in ["amqp", "rabbit", "rabbitmq"] {
            let plain = try AMQPConfiguration(url: "\(scheme)://u:p@host")
            #expect(
                plain.tls == nil && plain.endpoints == [.init(host: "host", port: 5672)] && plain.virtualHost == "/")
        }
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "http://x") }
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "amqp://h:notaport/") }
    }

    @Test func errorsNameTheCauseWithoutThePassword() throws {
        let e = AMQPError(.topology, "declare queue \"q\": PRECONDITION_FAILED", replyCode: 406)
        #expect(e.description.contains("406") && !e.isFatal)
    }
}
