import Glibc

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
