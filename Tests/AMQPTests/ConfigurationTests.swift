import Testing
@testable import AMQP

struct ConfigurationTests {
    @Test func parsesURLsWithAliasesHostsAndTLS() throws {
        let c = try AMQPConfiguration(url: "rabbit+ssl://dms:s%40cret@h1:5671,h2/vh?heartbeat=7&cafile=/ca.pem")
        #expect(c.endpoints == [.init(host: "h1", port: 5671), .init(host: "h2", port: 5671)])
        #expect(c.username == "dms" && c.password == "s@cret" && c.virtualHost == "vh")
        #expect(c.heartbeat == 7 && c.tls?.caFile == "/ca.pem" && c.tls?.verifyPeer == true)
        #expect(!c.description.contains("s@cret") && !c.description.contains("cret"), "the password never prints")
        for scheme in ["amqp", "rabbit", "rabbitmq"] {
            let plain = try AMQPConfiguration(url: "\(scheme)://u:p@host")
            #expect(plain.tls == nil && plain.endpoints == [.init(host: "host", port: 5672)] && plain.virtualHost == "/")
        }
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "http://x") }
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: "amqp://h:notaport/") }
    }

    @Test func errorsNameTheCauseWithoutThePassword() throws {
        let e = AMQPError(.topology, "declare queue \"q\": PRECONDITION_FAILED", replyCode: 406)
        #expect(e.description.contains("406") && !e.isFatal)
    }
}
