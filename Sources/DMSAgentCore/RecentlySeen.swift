import DMSWire
import LinuxSupport

/// Names seen within the last `seconds`, at most `capacity` of them (the oldest are forgotten first).
final class RecentlySeen: Sendable {
    private let seconds: Double
    private let capacity: Int
    private let seen = Locked<[String: UInt64]>([:])

    init(seconds: Double, capacity: Int) {
        self.seconds = seconds
        self.capacity = capacity
    }

    func isFresh(_ name: String) -> Bool {
        let now = monotonicNanos()
        return seen.withLock { $0[name].map { now - $0 < UInt64(seconds * 1e9) } ?? false }
    }

    func remember(_ name: String) {
        let now = monotonicNanos()
        seen.withLock { seen in
            if seen.count >= capacity { seen = seen.filter { now - $0.value < UInt64(seconds * 1e9) } }
            if seen.count >= capacity, let oldest = seen.min(by: { $0.value < $1.value })?.key {
                seen.removeValue(forKey: oldest)
            }
            seen[name] = now
        }
    }
}
