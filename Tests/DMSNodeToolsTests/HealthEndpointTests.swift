import DMSNodeTools
import Foundation
import LinuxSupport
import Logging
import ServiceLifecycle
import Testing

/// The endpoint against a fake source and real sockets on loopback: answers, garbage, slow clients, the connection cap.
@Suite(.timeLimit(.minutes(1))) struct HealthEndpointTests {
    final class FakeSource: HealthSource {
        let state = Locked((healthy: true, notReady: String?.none, scrapes: 0))
        var isHealthy: Bool { state.withLock { $0.healthy } }
        var notReadyReason: String? { state.withLock { $0.notReady } }
        func metricsText() -> [UInt8] {
            let n = state.withLock {
                $0.scrapes += 1
                return $0.scrapes
            }
            return Array("dms_fake_scrapes \(n)\n".utf8)
        }
    }

    /// A blocking TCP client on 127.0.0.1.
    struct Client {
        let fd: Int32

        init(port: Int, timeoutSeconds: Int = 15) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard rc == 0 else { throw Errno(errno) }
            // A test that fails must not hang: no read waits longer than this.
            var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        func send(_ text: String) {
            _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        }

        /// Everything until the server closes.
        func receiveAll() -> String {
            var out: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                out += chunk[0..<n]
            }
            return String(decoding: out, as: UTF8.self)
        }

        func close() { _ = Glibc.close(fd) }

        static func get(_ path: String, port: Int) throws -> String {
            let client = try Client(port: port)
            defer { client.close() }
            client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            return client.receiveAll()
        }
    }

    /// Runs the endpoint in a service group around `body`, then shuts the group down. `body` blocks in socket calls, so
    /// it runs on the blocking pool: on the cooperative pool it could starve the endpoint's own start.
    func withEndpoint(_ source: FakeSource, _ body: @Sendable (HealthEndpoint) async throws -> Void) async throws {
        let endpoint = try HealthEndpoint(address: "127.0.0.1:0", source: source)
        let group = ServiceGroup(services: [endpoint], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            try await BlockingPool.run {
                // The group starts the endpoint's accepting thread when the cooperative pool gets to it; the parallel
                // suites can hold that pool for seconds at start (CI saw 5 s). Every test begins once it serves.
                let deadline = Deadline(after: .seconds(60))
                var serving = false
                while !serving && !deadline.hasPassed {
                    if let probe = try? Client(port: endpoint.port, timeoutSeconds: 1) {
                        probe.send("GET /healthz HTTP/1.1\r\n\r\n")
                        serving = !probe.receiveAll().isEmpty
                        probe.close()
                    }
                }
                try #require(serving, "the endpoint never started serving")
                // The probe's slot is given back after its answer reached us: wait, or a test counting slots is off by one.
                while endpoint.connectionsInService > 0 && !deadline.hasPassed { usleep(1000) }
                try await body(endpoint)
            }
            await group.triggerGracefulShutdown()
            try await tasks.next()
        }
    }

    @Test func answersHealthReadinessAndMetricsFromTheSource() async throws {
        let source = FakeSource()
        try await withEndpoint(source) { endpoint in
            let port = endpoint.port
            #expect(try Client.get("/healthz", port: port).hasPrefix("HTTP/1.1 200 OK"))
            #expect(try Client.get("/readyz", port: port).hasSuffix("ready\n"))
            let metrics = try Client.get("/metrics?x=1", port: port)
            #expect(
                metrics.contains("Content-Type: text/plain; version=0.0.4") && metrics.hasSuffix("dms_fake_scrapes 1\n")
            )
            source.state.withLock {
                $0.healthy = false
                $0.notReady = "broker gone"
            }
            #expect(try Client.get("/healthz", port: port).hasPrefix("HTTP/1.1 503"))
            let readyz = try Client.get("/readyz", port: port)
            #expect(readyz.hasPrefix("HTTP/1.1 503") && readyz.hasSuffix("broker gone\n"))
            #expect(try Client.get("/nothing", port: port).hasPrefix("HTTP/1.1 404"))
        }
    }

    @Test(arguments: [
        ("POST /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 400"), ("\u{01}\u{02}garbage\n", "HTTP/1.1 400"),
        ("GET /" + String(repeating: "a", count: 3000) + " HTTP/1.1\r\n", "HTTP/1.1 414"),
    ])
    func garbageGetsAnErrorAndNothingElse(request: String, answer: String) async throws {
        let source = FakeSource()
        try await withEndpoint(source) { endpoint in
            let port = endpoint.port
            let client = try Client(port: port)
            defer { client.close() }
            client.send(request)
            #expect(client.receiveAll().hasPrefix(answer))
            #expect(source.state.withLock { $0.scrapes } == 0, "garbage never reaches the source")
            #expect(try Client.get("/healthz", port: port).hasPrefix("HTTP/1.1 200"), "and the endpoint still serves")
        }
    }

    @Test func aSilentClientIsDroppedAndDelaysNobody() async throws {
        try await withEndpoint(FakeSource()) { endpoint in
            let port = endpoint.port
            let silent = try Client(port: port)
            defer { silent.close() }
            let start = monotonicNanos()
            #expect(try Client.get("/healthz", port: port).hasPrefix("HTTP/1.1 200"))
            // The silent client holds its thread for 2 s: a probe that waited for it would take that long.
            #expect(monotonicNanos() - start < 1_500_000_000, "the probe waited for the silent client")
            #expect(silent.receiveAll().hasPrefix("HTTP/1.1 408"))
            #expect(monotonicNanos() - start >= 1_900_000_000, "dropped before its 2 s")
        }
    }

    @Test func theSeventeenthConcurrentConnectionIsTurnedAway() async throws {
        try await withEndpoint(FakeSource()) { endpoint in
            let port = endpoint.port
            let idle = try (0..<16).map { _ in try Client(port: port) }
            defer { idle.forEach { $0.close() } }
            // The 16 are admitted in accept order; the 17th must come once the accepting thread has counted them.
            let deadline = Deadline(after: .seconds(30))
            while endpoint.connectionsInService < 16 && !deadline.hasPassed { usleep(1000) }
            #expect(endpoint.connectionsInService == 16)
            #expect(try Client.get("/healthz", port: port).hasPrefix("HTTP/1.1 503 Service Unavailable"))
            idle.forEach { $0.send("GET /healthz HTTP/1.1\r\n\r\n") }
            for client in idle { #expect(client.receiveAll().hasPrefix("HTTP/1.1 200")) }
            #expect(try Client.get("/healthz", port: port).hasPrefix("HTTP/1.1 200"), "slots are given back")
        }
    }
}
