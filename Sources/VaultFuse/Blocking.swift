import Foundation

/// Runs `body` on a thread of its own, so that blocking syscalls (poll, waitid, umount) never occupy
/// a thread of Swift's cooperative pool. Dispatch's concurrent queues are width-limited on Linux,
/// which would let a few slow mounts starve every other target.
func runBlocking<T: Sendable>(_ name: String = "vaultfuse.blocking", _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.name = name
        thread.stackSize = 256 * 1024
        thread.start()
    }
}

func runBlocking<T: Sendable>(_ name: String = "vaultfuse.blocking", _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
        let thread = Thread {
            continuation.resume(returning: body())
        }
        thread.name = name
        thread.stackSize = 256 * 1024
        thread.start()
    }
}

/// Monotonic time in nanoseconds.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

struct Deadline: Sendable {
    let nanos: UInt64
    init(after seconds: Double) { nanos = monotonicNanos() &+ UInt64(max(0, seconds) * 1e9) }
    var remainingMilliseconds: Int32 {
        let now = monotonicNanos()
        if now >= nanos { return 0 }
        return Int32(min(UInt64(Int32.max), (nanos - now + 999_999) / 1_000_000))
    }
    var hasPassed: Bool { monotonicNanos() >= nanos }
}
