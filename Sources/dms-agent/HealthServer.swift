import DMS
import FoundationEssentials
import Glibc
import OSThread
import Logging
import Prometheus
import Synchronization

/// `/metrics` (Prometheus text), `/healthz` and `/readyz`. Deliberately tiny: one request per connection, GET
/// only, a few bytes each — no framework on the agent's hot path. One accepting thread; each connection is served
/// on a thread of its own, at most `maxConnections` at once (more are answered 503 at once), so an idle or slow
/// client never delays a probe.
final class HealthServer: @unchecked Sendable {
    static let maxConnections = 16
    private let fd: Int32
    private let active = Mutex(0)
    private let registry: PrometheusCollectorRegistry
    private let agent: DMSAgent
    let port: Int

    /// `address` is `host:port`; port 0 picks a free one.
    init(address: String, registry: PrometheusCollectorRegistry, agent: DMSAgent) throws {
        (fd, port) = try Self.listen(on: address)
        self.registry = registry
        self.agent = agent
    }

    /// A listening IPv4 socket on `host:port` (`*` or empty host: every address) and the port it got.
    static func listen(on address: String) throws -> (fd: Int32, port: Int) {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw ValidationErrorMessage("--metrics-listen expects host:port or none, got \(address)")
        }
        let host = String(address[..<colon])
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host == "*" || host.isEmpty ? "0.0.0.0" : host, &addr.sin_addr) == 1 else {
            close(fd)
            throw ValidationErrorMessage("--metrics-listen: \(host) is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ValidationErrorMessage("--metrics-listen \(address): \(reason)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return (fd, Int(UInt16(bigEndian: actual.sin_port)))
    }

    func start() {
        OSThread.detach(name: "dms.health", stackSize: 256 * 1024) { [self] in serve() }
    }

    private func serve() {
        while true {
            // accept4 is not visible to Swift; s3vaultfuse spawns close every fd above 2 anyway.
            let client = accept(fd, nil, nil)
            if client < 0 { if errno == EINTR { continue }; return }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            let admitted = active.withLock { count -> Bool in
                guard count < Self.maxConnections else { return false }
                count += 1
                return true
            }
            guard admitted else {
                respond(client, "503 Service Unavailable", "text/plain", Array("too many connections\n".utf8))
                continue
            }
            OSThread.detach(name: "dms.health.conn", stackSize: 256 * 1024) { [self] in
                handle(client)
                active.withLock { $0 -= 1 }
            }
        }
    }

    private func handle(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 2048)
        let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
        let requestLine = n > 0 ? String(decoding: buffer[0..<n].prefix { $0 != 13 && $0 != 10 }, as: UTF8.self) : ""
        let parts = requestLine.split(separator: " ")
        let path = parts.count >= 2 ? String(parts[1].prefix { $0 != "?" }) : ""
        let (status, type, body): (String, String, [UInt8])
        switch (parts.first.map(String.init), path) {
        case ("GET", "/metrics"):
            agent.refreshMetrics()
            (status, type, body) = ("200 OK", "text/plain; version=0.0.4", registry.emitToBuffer())
        case ("GET", "/healthz"):
            (status, type, body) = agent.isHealthy ? ("200 OK", "text/plain", Array("ok\n".utf8)) : ("503 Service Unavailable", "text/plain", Array("PID-directory lock not held\n".utf8))
        case ("GET", "/readyz"):
            if let reason = agent.notReadyReason {
                (status, type, body) = ("503 Service Unavailable", "text/plain", Array("\(reason)\n".utf8))
            } else {
                (status, type, body) = ("200 OK", "text/plain", Array("ready\n".utf8))
            }
        default:
            (status, type, body) = ("404 Not Found", "text/plain", Array("not found\n".utf8))
        }
        respond(client, status, type, body)
    }

    private func respond(_ client: Int32, _ status: String, _ type: String, _ body: [UInt8]) {
        let head = Array("HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8)
        _ = (head + body).withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(client)
    }
}

struct ValidationErrorMessage: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
