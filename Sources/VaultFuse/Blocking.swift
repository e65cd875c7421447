import FoundationEssentials
import Glibc
import OSThread

/// Threads for blocking syscalls (poll, waitid, umount), so they never occupy a thread of Swift's
/// cooperative pool. Dispatch's concurrent queues are width-limited on Linux, which would let a few slow
/// mounts starve every other target; here every waiting operation gets a thread of its own, and idle
/// threads are kept for reuse (a fresh thread per operation costs a clone and a cold wake-up).
final class BlockingThreads: @unchecked Sendable {
    static let shared = BlockingThreads()

    private let condition = ThreadCondition()
    private var queue: [() -> Void] = []
    private var idle = 0
    /// Idle threads beyond this many exit.
    private let keepIdle = 16

    func submit(_ work: @escaping () -> Void) {
        condition.lock()
        queue.append(work)
        let spawn = idle < queue.count
        if !spawn { condition.signal() }
        condition.unlock()
        if spawn {
            OSThread.detach(name: "vf.blocking", stackSize: 256 * 1024) { [self] in loop() }
        }
    }

    private func loop() {
        condition.lock()
        while true {
            while queue.isEmpty {
                if idle >= keepIdle { condition.unlock(); return }
                idle += 1
                let woke = condition.wait(seconds: 60)
                idle -= 1
                if !woke && queue.isEmpty { condition.unlock(); return }
            }
            let work = queue.removeFirst()
            condition.unlock()
            work()
            condition.lock()
        }
    }
}

func runBlocking<T: Sendable>(_ name: String = "vaultfuse.blocking", _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
        BlockingThreads.shared.submit { continuation.resume(with: Result { try body() }) }
    }
}

func runBlocking<T: Sendable>(_ name: String = "vaultfuse.blocking", _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
        BlockingThreads.shared.submit { continuation.resume(returning: body()) }
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
