import CLinuxProcess
import Glibc

/// A point on the monotonic clock, for poll(2) timeouts and loops that must end.
package struct Deadline: Sendable {
    package let nanos: UInt64
    package init(after duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = max(0, seconds) * 1_000_000_000 + (seconds < 0 ? 0 : attoseconds / 1_000_000_000)
        nanos = monotonicNanos() &+ UInt64(nanoseconds)
    }
    package var remainingMilliseconds: Int32 {
        let now = monotonicNanos()
        if now >= nanos { return 0 }
        return Int32(min(UInt64(Int32.max), (nanos - now + 999_999) / 1_000_000))
    }
    package var hasPassed: Bool { monotonicNanos() >= nanos }
}
