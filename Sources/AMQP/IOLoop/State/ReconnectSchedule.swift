import LinuxSupport

/// When to try the broker again and in which order of hosts, as a value.
///
/// A connection that lived (30 s or more) starts afresh: its first attempt is spread at random over
/// `firstAttemptSpread`, so a fleet that lost the same broker node does not come back in one burst, and it tries the
/// other hosts before the one it just lost. One that died young (a refusal right after set-up) and every failed round
/// of all hosts back off exponentially from `initialDelay` up to `maxDelay`, jittered over the upper half.
struct ReconnectSchedule {
    var initialDelay: Duration
    var maxDelay: Duration
    var firstAttemptSpread: Duration
    /// Failed rounds since the last connection that lived.
    private(set) var attempt = 0
    private var connectedAt: UInt64?
    /// Monotonic ns before which no attempt is made.
    private(set) var notBefore: UInt64 = 0
    /// The endpoint index of the last connection, tried last after it is lost.
    private var lastEndpoint: Int?

    static let livedLongEnough: UInt64 = 30_000_000_000

    init(initialDelay: Duration, maxDelay: Duration, firstAttemptSpread: Duration) {
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.firstAttemptSpread = firstAttemptSpread
    }

    /// How long to wait before the next attempt, at `now`; zero when it may go at once.
    func wait(at now: UInt64) -> Duration { notBefore > now ? .nanoseconds(Int64(notBefore - now)) : .zero }

    /// The order to try `count` endpoints in: as configured, except that the one just lost goes last.
    func endpointOrder(count: Int) -> [Int] {
        guard let lost = lastEndpoint, count > 1, lost < count else { return Array(0..<count) }
        return Array(lost + 1..<count) + Array(0..<lost) + [lost]
    }

    mutating func connected(at now: UInt64, endpoint: Int) {
        connectedAt = now
        lastEndpoint = endpoint
        notBefore = 0
    }

    /// The connection was lost at `now`.
    mutating func lost(at now: UInt64, using random: inout some RandomNumberGenerator) {
        let lived = connectedAt.map { now &- $0 >= Self.livedLongEnough } ?? false
        connectedAt = nil
        if lived {
            attempt = 0
            let spread = max(0, firstAttemptSpread.nanoseconds)
            notBefore = now + UInt64(spread > 0 ? Int64.random(in: 0...spread, using: &random) : 0)
        } else {
            notBefore = now + UInt64(max(0, backoff(using: &random).nanoseconds))
        }
    }

    /// A round over every host failed at `now`: the wait before the next, which also becomes `notBefore`.
    mutating func roundFailed(at now: UInt64, using random: inout some RandomNumberGenerator) -> Duration {
        let delay = backoff(using: &random)
        notBefore = now + UInt64(max(0, delay.nanoseconds))
        return delay
    }

    private mutating func backoff(using random: inout some RandomNumberGenerator) -> Duration {
        let cap = maxDelay.seconds
        let delay = min(cap, initialDelay.seconds * Double(1 << min(attempt, 20)))
        attempt += 1
        return delay > 0 ? .seconds(Double.random(in: delay / 2...delay, using: &random)) : .zero
    }
}
