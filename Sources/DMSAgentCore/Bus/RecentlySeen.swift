import LinuxSupport

/// Names seen within the last `freshFor`, at most `capacity` of them (the oldest are forgotten first).
final class RecentlySeen: Sendable {
    private let freshNanoseconds: UInt64
    private let capacity: Int
    private let seen = Locked<[String: UInt64]>([:])

    init(freshFor: Duration, capacity: Int) {
        freshNanoseconds = UInt64(max(0, freshFor.milliseconds)) * 1_000_000
        self.capacity = capacity
    }

    func isFresh(_ name: String) -> Bool {
        let now = monotonicNanos()
        return seen.withLock { $0[name].map { now - $0 < freshNanoseconds } ?? false }
    }

    func remember(_ name: String) {
        let now = monotonicNanos()
        seen.withLock { seen in
            if seen.count >= capacity { seen = seen.filter { now - $0.value < freshNanoseconds } }
            if seen.count >= capacity, let oldest = seen.min(by: { $0.value < $1.value })?.key {
                seen.removeValue(forKey: oldest)
            }
            seen[name] = now
        }
    }
}
