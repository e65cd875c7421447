import Dispatch
import FoundationEssentials
import Glibc

/// How to reach the broker. Built from an AMQP URI; every field can be changed afterwards.
public struct AMQPConfiguration: Sendable, CustomStringConvertible {
    public struct Endpoint: Sendable, Equatable {
        public var host: String
        public var port: Int
    }

    public struct TLS: Sendable, Equatable {
        /// CA bundle used to verify the broker. Default: none (the system's is not read by rabbitmq-c).
        public var caFile: String?
        public var certificateFile: String?
        public var keyFile: String?
        /// Default: true.
        public var verifyPeer: Bool = true
        /// Default: true.
        public var verifyHostname: Bool = true
        public init() {}
    }

    /// Tried in order: the first that answers wins (cluster failover).
    public var endpoints: [Endpoint]
    public var username: String = "guest"
    /// Never printed: `description` and every error redact it.
    public var password: String = "guest"
    public var virtualHost: String = "/"
    /// TLS when set (schemes `amqps`, `rabbit+ssl`).
    public var tls: TLS?
    /// Seconds; 0 disables heartbeats. Default: 30.
    public var heartbeat: Int = 30
    /// Seconds for TCP connect and for each RPC (declare, qos, close). Default: 10.
    public var connectTimeout: Double = 10
    /// Default: 131072.
    public var frameMax: Int = 131_072
    /// Default: 16.
    public var channelMax: Int = 16
    /// Shown by `rabbitmqctl list_connections` (client_properties.connection_name).
    public var connectionName: String = "dms-agent"
    /// Reconnect backoff: first delay and cap, in seconds, with full jitter. Defaults: 0.5 and 30.
    public var reconnectInitialDelay: Double = 0.5
    public var reconnectMaxDelay: Double = 30
    /// How long `publish` may wait (for a connection and for the confirm) before failing. Default: 30 s.
    public var publishTimeout: Double = 30

    public init(endpoints: [Endpoint]) { self.endpoints = endpoints }

    /// `amqp://user:pass@host[:port][,host2[:port]]/vhost` and the aliases `amqps`, `rabbit`, `rabbitmq`,
    /// `rabbit+ssl`. Query options: `heartbeat`, `connection_timeout`, `cafile`, `certfile`, `keyfile`,
    /// `verify` (`verify_none` turns off peer checks).
    public init(url: String) throws(AMQPError) {
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
        if let q = rest.firstIndex(of: "?") { query = String(rest[rest.index(after: q)...]); rest = rest[..<q] }
        var path = ""
        if let slash = rest.firstIndex(of: "/") { path = String(rest[rest.index(after: slash)...]); rest = rest[..<slash] }
        var userinfo: Substring?
        if let at = rest.lastIndex(of: "@") { userinfo = rest[..<at]; rest = rest[rest.index(after: at)...] }
        let defaultPort = secure ? 5671 : 5672
        var endpoints: [Endpoint] = []
        for hostPort in rest.split(separator: ",") where !hostPort.isEmpty {
            var host = String(hostPort), port = defaultPort
            if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
                host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
                if let colon = hostPort[close...].firstIndex(of: ":"), let p = Int(hostPort[hostPort.index(after: colon)...]) { port = p }
            } else if let colon = hostPort.lastIndex(of: ":") {
                host = String(hostPort[..<colon])
                guard let p = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(p) else {
                    throw AMQPError(.configuration, "Invalid port in AMQP URL host \(host.debugDescription)")
                }
                port = p
            }
            endpoints.append(Endpoint(host: host.isEmpty ? "localhost" : host, port: port))
        }
        self.init(endpoints: endpoints.isEmpty ? [Endpoint(host: "localhost", port: defaultPort)] : endpoints)
        if let userinfo {
            let parts = userinfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            username = Self.percentDecoded(parts[0])
            password = parts.count > 1 ? Self.percentDecoded(parts[1]) : ""
        }
        if !path.isEmpty { virtualHost = Self.percentDecoded(path[...]) }
        if secure { tls = TLS() }
        for item in query.split(separator: "&") {
            let kv = item.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            let value = Self.percentDecoded(kv[1])
            switch kv[0] {
            case "heartbeat": heartbeat = Int(value) ?? heartbeat
            case "connection_timeout": connectTimeout = Double(value) ?? connectTimeout
            case "cafile": tls?.caFile = value
            case "certfile": tls?.certificateFile = value
            case "keyfile": tls?.keyFile = value
            case "verify": if value == "verify_none" { tls?.verifyPeer = false; tls?.verifyHostname = false }
            default: break
            }
        }
    }

    /// Replaces the password with the first line of a file (e.g. a systemd credential).
    public mutating func readPassword(fromFile path: String) throws(AMQPError) {
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

    public var description: String {
        let hosts = endpoints.map { "\($0.host):\($0.port)" }.joined(separator: ",")
        return "\(tls == nil ? "amqp" : "amqps")://\(username):***@\(hosts)/\(virtualHost == "/" ? "" : virtualHost)"
    }
}
