import LinuxSupport

/// Work that has begun and not ended, each with its monotonic start: the jobs running (metrics) and the replies
/// waiting for the broker's confirm (readiness, metrics) are two instances of it.
final class InFlightTracker: Sendable {
    private let state = Locked<(next: UInt64, started: [UInt64: UInt64])>((0, [:]))

    /// A ticket for `end`.
    func begin() -> UInt64 {
        let now = monotonicNanos()
        return state.withLock { s in
            s.next += 1
            s.started[s.next] = now
            return s.next
        }
    }

    /// Nanoseconds since the ticket's `begin`; nil for a ticket already ended.
    @discardableResult
    func end(_ ticket: UInt64) -> UInt64? {
        let start = state.withLock { $0.started.removeValue(forKey: ticket) }
        return start.map { monotonicNanos() - $0 }
    }

    var count: Int { state.withLock { $0.started.count } }

    /// Seconds the oldest has waited; nil when none waits.
    var oldestAge: Double? {
        state.withLock { $0.started.values.min() }.map { Double(monotonicNanos() - $0) / 1e9 }
    }
}
