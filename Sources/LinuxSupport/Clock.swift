import CLinuxProcess
import Glibc

/// Monotonic time in nanoseconds.
@inline(__always)
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

public struct Deadline: Sendable {
    public let nanos: UInt64
    public init(after seconds: Double) { nanos = monotonicNanos() &+ UInt64(max(0, seconds) * 1e9) }
    public var remainingMilliseconds: Int32 {
        let now = monotonicNanos()
        if now >= nanos { return 0 }
        return Int32(min(UInt64(Int32.max), (nanos - now + 999_999) / 1_000_000))
    }
    public var hasPassed: Bool { monotonicNanos() >= nanos }
}

public enum Memory {
    /// Caps glibc's malloc arenas: every blocking wait runs on a short-lived thread, and without a cap glibc gives
    /// each its own arena and the resident size of a long-running process creeps up.
    public static func limitMallocArenas(_ arenas: Int32) { _ = dms_limit_malloc_arenas(arenas) }
}
