import Foundation
import LinuxSupport
package import Testing

/// What the integration suites need, checked once. Plain `swift test` on a fresh clone runs the hermetic
/// tests and skips the rest with the reason; `scripts/test.sh` provides everything.
package enum Gate {
    package static let isRoot = geteuid() == 0
    package static let brokerUp = listening(port: TestEnv.amqpPort)
    package static let s3Up = listening(
        port: Int(ProcessInfo.processInfo.environment["DMS_TEST_S3_PORT"] ?? "5690") ?? 5690)
    package static let fuse =
        FileManager.default.fileExists(atPath: "/dev/fuse")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/bindfs")
    package static let pika = Proc.shell("python3 -c 'import pika' 2>/dev/null").status == 0
    package static let disruptive = ProcessInfo.processInfo.environment["DMS_TEST_DISRUPTIVE"] != nil
    /// The sanitizer this test binary was built with, found by its runtime's entry point: nil in a plain build.
    package static let sanitizer: String? = {
        guard let handle = dlopen(nil, RTLD_NOW) else { return nil }
        defer { dlclose(handle) }
        if dlsym(handle, "__tsan_init") != nil { return "thread" }
        if dlsym(handle, "__asan_init") != nil { return "address" }
        return nil
    }()

    package static func listening(port: Int) -> Bool {
        guard let fd = connectLoopback(port: port) else { return false }
        close(fd)
        return true
    }
}

extension Trait where Self == ConditionTrait {
    /// The test broker (`scripts/broker.sh start`).
    package static var needsBroker: Self {
        // rabbitmqctl needs the broker's Erlang cookie, which is root's.
        .enabled(
            if: Gate.isRoot && Gate.brokerUp,
            "needs root (rabbitmqctl) and the test broker on 127.0.0.1:\(TestEnv.amqpPort): run scripts/test.sh as root"
        )
    }

    /// Root and FUSE (bindfs): real mounts.
    package static var needsFUSE: Self {
        .enabled(
            if: Gate.isRoot && Gate.fuse, "needs root, /dev/fuse and bindfs (real mounts): run scripts/test.sh as root")
    }

    /// The agent end to end: root, FUSE, the broker, the S3 server and pika.
    package static var needsEverything: Self {
        .enabled(
            if: Gate.isRoot && Gate.fuse && Gate.brokerUp && Gate.s3Up && Gate.pika,
            "needs root, FUSE, the test broker, the S3 server and pika: run scripts/test.sh as root")
    }

    /// Measures memory or time: a sanitizer's shadow memory, quarantine and 5–15× slowdown make the figure
    /// meaningless. The test still runs in scripts/test.sh's uninstrumented phases.
    package static var notUnderASanitizer: Self {
        .disabled(
            if: Gate.sanitizer != nil,
            "measures memory or time, which \(Gate.sanitizer ?? "a")-sanitizer instrumentation changes by design")
    }

    /// The private node with a 5 s acknowledgement timeout (`scripts/broker.sh start-ack-timeout`).
    package static var needsAckTimeoutBroker: Self {
        .enabled(
            if: Gate.isRoot && Gate.fuse && Gate.pika && Gate.listening(port: AckTimeoutBroker.port),
            "needs root, FUSE and the private broker node with a 5 s ack timeout: scripts/broker.sh start-ack-timeout")
    }

    /// Stops, alarms or partitions the shared broker: run alone, as scripts/test.sh does.
    package static var disruptive: Self {
        .enabled(
            if: Gate.disruptive, "disrupts the shared broker: scripts/test.sh runs it alone with DMS_TEST_DISRUPTIVE=1")
    }
}

/// A TCP connection to 127.0.0.1:`port`, or nil when nothing accepts it.
package func connectLoopback(port: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard rc == 0 else {
        close(fd)
        return nil
    }
    return fd
}

/// Runs every test of a suite on the blocking pool. The real-parts helpers block their thread (rabbitmqctl, waitpid
/// on an agent that drains, curl, mount): on the cooperative pool — two threads on a 2-core machine — two of them at
/// once would stall every other test's awaits until they return, and a timeout elsewhere would cry wolf.
package struct OnTheBlockingPool: SuiteTrait, TestTrait, TestScoping {
    package var isRecursive: Bool { true }

    package func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await BlockingPool.run { try await function() }
    }
}

extension Trait where Self == OnTheBlockingPool {
    /// The suite's tests may block their thread (see `OnTheBlockingPool`).
    package static var onTheBlockingPool: Self { OnTheBlockingPool() }
}
