import FoundationEssentials
import Glibc

/// How to reach the broker. Built from an AMQP URI; every field can be changed afterwards.
package struct AMQPConfiguration: Sendable, CustomStringConvertible {
    package struct Endpoint: Sendable, Equatable {
        package var host: String
        package var port: Int
        /// Per-host credentials (oslo.messaging's `user:pass@h1,user2:pass2@h2`); nil → the configuration's.
        package var username: String?
        package var password: String?
        /// The URL named no port: `ssl=1` moves it from 5672 to 5671.
        var defaultPort = false
        package init(host: String, port: Int, username: String? = nil, password: String? = nil) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
        }

        package static func == (a: Endpoint, b: Endpoint) -> Bool {
            a.host == b.host && a.port == b.port && a.username == b.username && a.password == b.password
        }
    }

    package struct TLS: Sendable, Equatable {
        /// CA bundle used to verify the broker. Default: none (the system's is not read by rabbitmq-c).
        package var caFile: String?
        package var certificateFile: String?
        package var keyFile: String?
        /// Default: true.
        package var verifyPeer: Bool = true
        /// Default: true.
        package var verifyHostname: Bool = true
        package init() {}
    }

    /// Tried in order: the first that answers wins (cluster failover). `spread(by:)` orders them per node.
    package var endpoints: [Endpoint]
    package var username: String = "guest"
    /// Never printed: `description` and every error redact it.
    package var password: String = "guest"
    package var virtualHost: String = "/"
    /// TLS when set (schemes `amqps`, `rabbit+ssl`).
    package var tls: TLS?
    /// Log in with SASL EXTERNAL (the broker reads the identity from the client certificate) instead of
    /// PLAIN. Query `login_method=EXTERNAL`, oslo's `rabbit_login_method`. Default: false.
    package var saslExternal = false
    /// Seconds (oslo's `heartbeat_timeout_threshold`); 0 disables heartbeats. Also the socket's
    /// TCP_USER_TIMEOUT, which bounds a send blocked in the kernel. Default: 60.
    package var heartbeat: Int = 60
    /// For TCP connect, for the handshake and for each RPC (declare, qos, close); past it the next host is tried.
    /// Default: 3 s.
    package var connectTimeout: Duration = .seconds(3)
    /// Default: 131072.
    package var frameMax: Int = 131_072
    /// Default: 16.
    package var channelMax: Int = 16
    /// Shown by `rabbitmqctl list_connections` (client_properties.connection_name).
    package var connectionName: String = "dms-agent"
    /// Reconnect backoff: first delay and cap, with full jitter. Defaults: 0.5 s and 30 s.
    package var reconnectInitialDelay: Duration = .milliseconds(500)
    package var reconnectMaxDelay: Duration = .seconds(30)
    /// How long `publish` may wait (for a connection and for the confirm) before failing. Default: 30 s.
    package var publishTimeout: Duration = .seconds(30)

    package init(endpoints: [Endpoint]) { self.endpoints = endpoints }

    /// `amqp://user:pass@host[:port][,user2:pass2@host2[:port]]/vhost` (oslo.messaging's `transport_url`:
    /// per-host credentials, `//` or empty vhost = `/`, percent-decoding, IPv6 in brackets, default ports
    /// 5672/5671) and the aliases `amqps`, `rabbit`, `rabbitmq`, `rabbit+ssl`. Query options: `ssl`,
    /// `ssl_ca_file`, `ssl_cert_file`, `ssl_key_file`, `heartbeat`, `connection_timeout`, `cafile`,
    /// `certfile`, `keyfile`, `verify` (`verify_none` turns off peer checks).
    package init(url: String) throws(AMQPError) {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else {
            throw AMQPError(.configuration, "Not an AMQP URL: missing scheme")
        }
        let scheme = url[..<colon].lowercased()
        let schemeEnd = url.index(colon, offsetBy: 3)
        let secure: Bool
        switch scheme {
        case "amqp", "rabbit", "rabbitmq": secure = false
        case "amqps", "rabbit+ssl", "rabbits": secure = true
        default: throw AMQPError(.configuration, "Unsupported AMQP URL scheme \(scheme.debugDescription)")
        }
        var rest = url[schemeEnd...]
        var query = ""
        if let q = rest.firstIndex(of: "?") {
            query = String(rest[rest.index(after: q)...])
            rest = rest[..<q]
        }
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[rest.index(after: slash)...])
            rest = rest[..<slash]
        }
        let defaultPort = secure ? 5671 : 5672
        // oslo.messaging: the netloc is split on ',' and every host may carry its own `user:pass@`.
        var endpoints: [Endpoint] = []
        var defaultCredentials: (String, String)?
        for item in rest.split(separator: ",") where !item.isEmpty {
            var hostPort = item
            var credentials: (String, String)?
            if let at = item.lastIndex(of: "@") {
                let parts = item[..<at].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                let given = (Self.percentDecoded(parts[0]), parts.count > 1 ? Self.percentDecoded(parts[1]) : "")
                hostPort = item[item.index(after: at)...]
                // The first credentials are the configuration's (a password file replaces them); a host
                // keeps its own only when they differ.
                if let first = defaultCredentials {
                    if first != given { credentials = given }
                } else {
                    defaultCredentials = given
                }
            }
            let (host, port) = try Self.hostAndPort(hostPort)
            var endpoint = Endpoint(
                host: host.isEmpty ? "localhost" : host, port: port ?? defaultPort,
                username: credentials?.0, password: credentials?.1)
            endpoint.defaultPort = port == nil
            endpoints.append(endpoint)
        }
        if endpoints.isEmpty {
            var local = Endpoint(host: "localhost", port: defaultPort)
            local.defaultPort = true
            endpoints = [local]
        }
        self.init(endpoints: endpoints)
        if let (user, password) = defaultCredentials {
            username = user
            self.password = password
        }
        if !path.isEmpty { virtualHost = Self.percentDecoded(path[...]) }
        if secure { tls = TLS() }
        try applyQuery(query)
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`. Outside brackets a host holds no `:` and no bracket: with the
    /// `@` forgotten, `user:pass:5672` would make the password part of a host name, which is logged, so it is
    /// refused without being echoed (found by fuzz-transport-url, as were an unclosed `[` and a bracketed port out
    /// of range).
    static func hostAndPort(_ hostPort: Substring) throws(AMQPError) -> (host: String, port: Int?) {
        func port(_ text: Substring, of host: String) throws(AMQPError) -> Int {
            guard let p = Int(text), (1...65535).contains(p) else {
                throw AMQPError(.configuration, "Invalid port in AMQP URL host \(host.debugDescription)")
            }
            return p
        }
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
            let host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.isEmpty { return (host, nil) }
            // Only `:port` may follow the brackets.
            return (host, try port(after.first == ":" ? after.dropFirst() : "", of: host))
        }
        let colon = hostPort.lastIndex(of: ":")
        let host = String(hostPort[..<(colon ?? hostPort.endIndex)])
        guard !host.contains(where: { $0 == ":" || $0 == "[" || $0 == "]" }) else {
            throw AMQPError(
                .configuration,
                "AMQP URL host has a ':' or a bracket: an IPv6 address goes in [ ], credentials end with '@'")
        }
        guard let colon else { return (host, nil) }
        return (host, try port(hostPort[hostPort.index(after: colon)...], of: host))
    }

    /// `?ssl=1&heartbeat=…` (oslo.messaging and kombu names, which win over the config file's).
    package mutating func applyQuery(_ query: String) throws(AMQPError) {
        for item in query.split(separator: "&") {
            let kv = item.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            let value = Self.percentDecoded(kv[1])
            switch kv[0] {
            case "ssl":
                switch value.lowercased() {
                case "1", "true", "yes", "on":
                    withTLS { _ in }
                    for i in endpoints.indices where endpoints[i].defaultPort { endpoints[i].port = 5671 }
                case "0", "false", "no", "off": tls = nil
                default:
                    throw AMQPError(
                        .configuration, "AMQP URL: ssl expects true or false, got \(value.debugDescription)")
                }
            case "ssl_ca_file", "ssl_ca_certs": withTLS { $0.caFile = value }
            case "ssl_cert_file", "ssl_certfile": withTLS { $0.certificateFile = value }
            case "ssl_key_file", "ssl_keyfile": withTLS { $0.keyFile = value }
            case "heartbeat", "heartbeat_timeout_threshold": heartbeat = Int(value) ?? heartbeat
            case "login_method", "rabbit_login_method", "auth_mechanism":
                switch value.uppercased() {
                case "EXTERNAL": saslExternal = true
                case "PLAIN", "AMQPLAIN": saslExternal = false
                default:
                    throw AMQPError(
                        .configuration,
                        "AMQP URL: login_method expects PLAIN or EXTERNAL, got \(value.debugDescription)")
                }
            case "connection_timeout": connectTimeout = Double(value).map { .seconds($0) } ?? connectTimeout
            case "cafile": tls?.caFile = value
            case "certfile": tls?.certificateFile = value
            case "keyfile": tls?.keyFile = value
            case "verify":
                if value == "verify_none" {
                    tls?.verifyPeer = false
                    tls?.verifyHostname = false
                }
            default: break
            }
        }
    }

    /// The TLS settings, turning TLS on (a CA or client certificate in the URL implies it).
    private mutating func withTLS(_ change: (inout TLS) -> Void) {
        var settings = tls ?? TLS()
        change(&settings)
        tls = settings
    }

    /// Reorders the hosts by a stable hash of `key` (the node id): the agents of a cloud spread over the
    /// brokers instead of all sitting on the first one, and one agent always prefers the same host.
    package mutating func spread(by key: String) {
        guard endpoints.count > 1 else { return }
        var state: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a of the key seeds a SplitMix64 shuffle
        for byte in key.utf8 { state = (state ^ UInt64(byte)) &* 0x100_0000_01b3 }
        for i in stride(from: endpoints.count - 1, to: 0, by: -1) {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            z ^= z >> 31
            endpoints.swapAt(i, Int(z % UInt64(i + 1)))
        }
    }

    /// Replaces the password with the first line of a file (e.g. a systemd credential).
    package mutating func readPassword(fromFile path: String) throws(AMQPError) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw AMQPError(.configuration, "Cannot read the password file \(path)")
        }
        password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
    }

    /// `%XX` escapes of user, password and vhost; malformed escapes stay as they are.
    static func percentDecoded(_ s: Substring) -> String {
        var out: [UInt8] = []
        let bytes = Array(s.utf8)
        var i = 0
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case 48...57: return b - 48
            case 65...70: return b - 55
            case 97...102: return b - 87
            default: return nil
            }
        }
        while i < bytes.count {
            if bytes[i] == 37, i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    package var description: String {
        let hosts = endpoints.map { "\($0.host):\($0.port)" }.joined(separator: ",")
        return "\(tls == nil ? "amqp" : "amqps")://\(username):***@\(hosts)/\(virtualHost == "/" ? "" : virtualHost)"
    }
}
