package import DMSSettings
import FoundationEssentials
import Glibc
import LinuxSupport
package import Logging
import ServiceLifecycle
import Synchronization

/// `/metrics` (Prometheus text), `/healthz` and `/readyz`, a `Service` of the agent's group. Deliberately tiny: one
/// GET per connection, a few bytes each — no framework on the agent's hot path (hummingbird would bring SwiftNIO's
/// event loops into an agent whose goal is < 25 MB with 1,000 targets). One accepting thread; each connection is
/// served on a thread of its own, at most `maxConnections` at once (more are answered 503 at once), so an idle or
/// slow client never delays a probe. The request line must arrive within 2 s and 2 KiB.
package final class HealthEndpoint: Service, Sendable {
    static let maxConnections = 16
    static let maxRequestLine = 2048
    private let fd: Int32
    private let active = Locked(0)
    private let stopped = Atomic<Bool>(false)
    private let source: any HealthSource
    package let port: Int
    /// The address as bound, `host:port` (`[v6]:port`).
    package let boundAddress: String
    /// Connections being served now, each on its own thread; a slot is given back after its answer is sent.
    package var connectionsInService: Int { active.withLock { $0 } }

    /// `address` is `host:port`, `[ipv6]:port` or `*:port` (every address, IPv6 and IPv4); port 0 picks a free one.
    package init(address: String, source: any HealthSource) throws(SettingError) {
        let listener = try Self.listen(on: address)
        (fd, port) = (listener.fd, listener.port)
        boundAddress = listener.description
        self.source = source
    }

    /// Where the running agent's endpoints are, in its PID directory: a probe, a sidecar or a test finds the port
    /// chosen for `:0` there instead of in the log.
    package static let addressFileName = ".dms-agent.health"

    /// Writes `boundAddress` to `<directory>/.dms-agent.health` (atomically: a reader sees the old or the new).
    package func publishAddress(inDirectory directory: String, logger: Logger) {
        let path = "\(directory)/\(Self.addressFileName)"
        do {
            try FileContents.writeAtomically(Array("\(boundAddress)\n".utf8), to: path, mode: 0o644)
        } catch {
            logger.warning(
                "cannot write the endpoints' address file",
                metadata: [LogKey.path: "\(path)", LogKey.error: "\(error)"])
        }
    }

    /// Serves until the group shuts down (the agent is listed after it, so probes answer while the agent drains).
    package func run() async throws {
        OSThread.detach(name: "dms.health", stackSize: 256 * 1024) { [self] in serve() }
        try? await gracefulShutdown()
        stopped.store(true, ordering: .sequentiallyConsistent)
        // Wakes the accepting thread out of accept(2); it closes the socket.
        Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    package struct Listener: Sendable {
        package let fd: Int32
        package let port: Int
        package let description: String
    }

    /// A listening socket on `host:port`. `*` or an empty host listens on every IPv6 and IPv4 address (one dual-stack
    /// socket, or IPv4 alone where IPv6 is off); a host with a colon, bracketed or not, is IPv6.
    package static func listen(on address: String) throws(SettingError) -> Listener {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw SettingError("--metrics-listen expects host:port, [ipv6]:port or none, got \(address)")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "*" || host.isEmpty {
            if let listener = try? bind(family: AF_INET6, host: "::", port: port, address: address) { return listener }
            return try bind(family: AF_INET, host: "0.0.0.0", port: port, address: address)
        }
        return try bind(family: host.contains(":") ? AF_INET6 : AF_INET, host: host, port: port, address: address)
    }

    private static func bind(family: Int32, host: String, port: UInt16, address: String) throws(SettingError)
        -> Listener
    {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SettingError("--metrics-listen \(address): \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        var zero: Int32 = 0
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        /// The address in a sockaddr_storage, with its length.
        func stored<Address>(_ address: Address) -> (sockaddr_storage, socklen_t) {
            var storage = sockaddr_storage()
            withUnsafeBytes(of: address) { bytes in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) }
            }
            return (storage, socklen_t(MemoryLayout<Address>.size))
        }
        var (storage, length) = (sockaddr_storage(), socklen_t(0))
        var parsed = false
        if family == AF_INET6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<Int32>.size))
            var addr = sockaddr_in6(
                sin6_family: sa_family_t(AF_INET6), sin6_port: port.bigEndian, sin6_flowinfo: 0, sin6_addr: in6_addr(),
                sin6_scope_id: 0)
            parsed = inet_pton(AF_INET6, host, &addr.sin6_addr) == 1
            (storage, length) = stored(addr)
        } else {
            var addr = sockaddr_in(
                sin_family: sa_family_t(AF_INET), sin_port: port.bigEndian, sin_addr: in_addr(),
                sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
            parsed = inet_pton(AF_INET, host, &addr.sin_addr) == 1
            (storage, length) = stored(addr)
        }
        guard parsed else {
            close(fd)
            throw SettingError("--metrics-listen: \(host) is not an IP address")
        }
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw SettingError("--metrics-listen \(address): \(reason)")
        }
        var actual = sockaddr_storage()
        var actualLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
        }
        let actualPort = withUnsafeBytes(of: actual) { bytes -> UInt16 in
            // sin_port and sin6_port sit at the same offset, right after the family.
            UInt16(bigEndian: bytes.load(fromByteOffset: 2, as: UInt16.self))
        }
        let shown = family == AF_INET6 ? "[\(host)]:\(actualPort)" : "\(host):\(actualPort)"
        return Listener(fd: fd, port: Int(actualPort), description: shown)
    }

    private func serve() {
        defer { close(fd) }
        while !stopped.load(ordering: .sequentiallyConsistent) {
            // accept4 is not visible to Swift; s3vaultfuse spawns close every fd above 2 anyway.
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
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

    /// The request line, read until its line end within 2 s in all; nil when the client sent none in time.
    private func readRequestLine(_ client: Int32) -> (line: String, complete: Bool) {
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        let deadline = Deadline(after: .seconds(2))
        while received.count <= Self.maxRequestLine, !deadline.hasPassed {
            if let end = received.firstIndex(where: { $0 == 13 || $0 == 10 }) {
                return (String(decoding: received[..<end], as: UTF8.self), true)
            }
            let n = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                break
            }
            received += chunk[0..<n]
        }
        return (String(decoding: received.prefix(Self.maxRequestLine), as: UTF8.self), false)
    }

    private func handle(_ client: Int32) {
        let (requestLine, complete) = readRequestLine(client)
        guard complete else {
            let tooLong = requestLine.utf8.count >= Self.maxRequestLine
            respond(
                client, tooLong ? "414 URI Too Long" : "408 Request Timeout", "text/plain",
                Array((tooLong ? "request line over 2 KiB\n" : "no request line within 2 s\n").utf8))
            return
        }
        let parts = requestLine.split(separator: " ")
        let path = parts.count >= 2 ? String(parts[1].prefix { $0 != "?" }) : ""
        let (status, type, body): (String, String, [UInt8])
        switch (parts.first.map(String.init), path) {
        case ("GET", "/metrics"):
            (status, type, body) = ("200 OK", "text/plain; version=0.0.4", source.metricsText())
        case ("GET", "/healthz"):
            (status, type, body) =
                source.isHealthy
                ? ("200 OK", "text/plain", Array("ok\n".utf8))
                : ("503 Service Unavailable", "text/plain", Array("PID-directory lock not held\n".utf8))
        case ("GET", "/readyz"):
            if let reason = source.notReadyReason {
                (status, type, body) = ("503 Service Unavailable", "text/plain", Array("\(reason)\n".utf8))
            } else {
                (status, type, body) = ("200 OK", "text/plain", Array("ready\n".utf8))
            }
        case ("GET", _):
            (status, type, body) = ("404 Not Found", "text/plain", Array("not found\n".utf8))
        default:
            (status, type, body) = ("400 Bad Request", "text/plain", Array("GET /metrics, /healthz or /readyz\n".utf8))
        }
        respond(client, status, type, body)
    }

    private func respond(_ client: Int32, _ status: String, _ type: String, _ body: [UInt8]) {
        let head = Array(
            "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
                .utf8)
        _ = (head + body).withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(client)
    }
}
