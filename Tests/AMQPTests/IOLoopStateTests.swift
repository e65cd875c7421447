import LinuxSupport
import Testing

@testable import AMQP

/// The I/O loop's bookkeeping without a broker: every transition of the delivery ledger, the confirm tracker and the
/// reconnect schedule.
struct DeliveryLedgerTests {
    @Test func acksInOrderBecomeOneMultipleAck() {
        var ledger = DeliveryLedger()
        for tag: UInt64 in 1...5 { ledger.delivered(tag) }
        #expect(ledger.acknowledge([1, 2, 3]) == .init(multipleUpTo: 3, singles: []))
        #expect(ledger.unsettled == 2)
    }

    @Test func anAckBehindAnUnsettledTagIsSentAlone() {
        var ledger = DeliveryLedger()
        for tag: UInt64 in 1...4 { ledger.delivered(tag) }
        // Tag 1 is a long job: 2 and 3 must not wait for it, and no multiple ack may cover 1.
        #expect(ledger.acknowledge([3, 2]) == .init(multipleUpTo: nil, singles: [2, 3]))
        // Once 1 is acked, the prefix passes 2 and 3 (already acked) and covers only 1.
        #expect(ledger.acknowledge([1]) == .init(multipleUpTo: 1, singles: []))
        #expect(ledger.acknowledge([4]) == .init(multipleUpTo: 4, singles: []))
        #expect(ledger.unsettled == 0)
    }

    @Test func aTagSettledAloneIsNeverCoveredByALaterMultipleAck() {
        var ledger = DeliveryLedger()
        for tag: UInt64 in 1...3 { ledger.delivered(tag) }
        ledger.settledAlone(2)  // rejected or nacked on its own
        // 1 and 3 acked together: the prefix runs 1, 2 (settled), 3; the multiple ack ends at 3, which the broker
        // reads as 1 and 3 only, since 2 is no longer outstanding there.
        #expect(ledger.acknowledge([1, 3]) == .init(multipleUpTo: 3, singles: []))
        #expect(ledger.unsettled == 0)
    }

    @Test func aMultipleAckStopsAtTheFirstUnsettledTag() {
        var ledger = DeliveryLedger()
        for tag: UInt64 in 1...4 { ledger.delivered(tag) }
        #expect(ledger.acknowledge([1, 2, 4]) == .init(multipleUpTo: 2, singles: [4]))
        #expect(ledger.unsettled == 1, "3 is still the broker's")
    }

    @Test func aResetForgetsEveryTag() {
        var ledger = DeliveryLedger()
        for tag: UInt64 in 1...3 { ledger.delivered(tag) }
        ledger.reset()
        #expect(ledger.unsettled == 0)
        // The new channel numbers from 1 again.
        ledger.delivered(1)
        #expect(ledger.acknowledge([1]) == .init(multipleUpTo: 1, singles: []))
    }

    @Test func aLongRunStaysCompact() {
        var ledger = DeliveryLedger()
        for tag: UInt64 in 1...20_000 {
            ledger.delivered(tag)
            #expect(ledger.acknowledge([tag]) == .init(multipleUpTo: tag, singles: []))
        }
        #expect(ledger.unsettled == 0)
    }
}

struct ConfirmTrackerTests {
    final class Publish: ConfirmablePublish, CustomStringConvertible {
        let name: String
        let deadline: UInt64
        var answered = false
        init(_ name: String, deadline: UInt64 = .max) {
            self.name = name
            self.deadline = deadline
        }
        var description: String { name }
    }

    static func names(_ publishes: [Publish]) -> [String] { publishes.map(\.name) }

    static func sendAll(_ tracker: inout ConfirmTracker<Publish>) {
        for publish in tracker.takeOutbox() { tracker.sent(publish) }
    }

    @Test func confirmsOutOfOrderSettleExactlyTheirPublishes() {
        var tracker = ConfirmTracker<Publish>()
        for name in ["a", "b", "c"] { tracker.enqueue(Publish(name)) }
        Self.sendAll(&tracker)
        #expect(Self.names(tracker.confirm(upTo: 2, multiple: false)) == ["b"])
        #expect(Self.names(tracker.confirm(upTo: 3, multiple: false)) == ["c"])
        #expect(Self.names(tracker.confirm(upTo: 1, multiple: false)) == ["a"])
        #expect(tracker.isIdle)
    }

    @Test func aMultipleConfirmSettlesEverythingUpToItsTag() {
        var tracker = ConfirmTracker<Publish>()
        for name in ["a", "b", "c"] { tracker.enqueue(Publish(name)) }
        Self.sendAll(&tracker)
        #expect(Self.names(tracker.confirm(upTo: 2, multiple: true)) == ["a", "b"])
        #expect(Self.names(tracker.confirm(upTo: 2, multiple: true)) == [], "a confirm is used once")
        #expect(tracker.unconfirmed.map(\.seq) == [3])
    }

    @Test func aBlockedConnectionHoldsTheOutbox() {
        var tracker = ConfirmTracker<Publish>()
        tracker.setBlocked(true)
        tracker.enqueue(Publish("a"))
        #expect(tracker.takeOutbox().isEmpty)
        #expect(Self.names(tracker.outbox) == ["a"])
        tracker.setBlocked(false)
        #expect(Self.names(tracker.takeOutbox()) == ["a"])
    }

    @Test func expiryAnswersBothKindsButKeepsSentOnesForTheirConfirm() {
        var tracker = ConfirmTracker<Publish>()
        tracker.enqueue(Publish("sent-late", deadline: 10))
        tracker.enqueue(Publish("sent-fine", deadline: 100))
        Self.sendAll(&tracker)
        tracker.enqueue(Publish("unsent-late", deadline: 10))
        let expired = tracker.expire(now: 50)
        #expect(Set(Self.names(expired)) == ["sent-late", "unsent-late"])
        #expect(tracker.outbox.isEmpty)
        for publish in expired { publish.answered = true }
        #expect(tracker.expire(now: 60).isEmpty, "answered once")
        // The late one still holds sequence 1, so the broker's confirm of 2 settles the right publish.
        #expect(Self.names(tracker.confirm(upTo: 2, multiple: false)) == ["sent-fine"])
    }

    @Test func aLostConnectionSendsTheUnconfirmedAgainFirstAndNumbersFromOne() {
        var tracker = ConfirmTracker<Publish>()
        let answered = Publish("answered")
        for publish in [Publish("a"), answered, Publish("b")] { tracker.enqueue(publish) }
        Self.sendAll(&tracker)
        answered.answered = true  // timed out: its caller has its answer, nothing is sent again for it
        tracker.enqueue(Publish("c"))
        tracker.connectionLost()
        #expect(Self.names(tracker.outbox) == ["a", "b", "c"])
        Self.sendAll(&tracker)
        #expect(tracker.unconfirmed.map(\.seq) == [1, 2, 3])
    }

    @Test func aRefusedChannelAnswersTheRefusedAndResendsTheRest() {
        var tracker = ConfirmTracker<Publish>()
        for name in ["to-x", "to-y", "to-x-2"] { tracker.enqueue(Publish(name)) }
        Self.sendAll(&tracker)
        let refused = tracker.channelClosed { $0.name.hasPrefix("to-x") }
        #expect(Self.names(refused) == ["to-x", "to-x-2"])
        #expect(Self.names(tracker.outbox) == ["to-y"])
        Self.sendAll(&tracker)
        #expect(tracker.unconfirmed.map(\.seq) == [1], "the reopened channel numbers from 1")
    }

    @Test func aSendThatFailsPartWayPutsTheRestBackInOrder() {
        var tracker = ConfirmTracker<Publish>()
        for name in ["a", "b", "c"] { tracker.enqueue(Publish(name)) }
        let pending = tracker.takeOutbox()
        tracker.sent(pending[0])
        tracker.unsent(pending[1...])
        #expect(Self.names(tracker.outbox) == ["b", "c"])
        tracker.connectionLost()
        #expect(Self.names(tracker.outbox) == ["a", "b", "c"])
    }

    @Test func theNextDeadlineIsTheEarliestOfBoth() {
        var tracker = ConfirmTracker<Publish>()
        tracker.enqueue(Publish("a", deadline: 30))
        Self.sendAll(&tracker)
        tracker.enqueue(Publish("b", deadline: 20))
        #expect(tracker.nextDeadline == 20)
        #expect(Self.names(tracker.drain()) == ["b", "a"])
        #expect(tracker.nextDeadline == nil)
    }
}

struct ReconnectScheduleTests {
    /// Deterministic: the same sequence in every run.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let second: UInt64 = 1_000_000_000

    func schedule() -> ReconnectSchedule {
        ReconnectSchedule(
            initialDelay: .milliseconds(500), maxDelay: .seconds(30), firstAttemptSpread: .milliseconds(500))
    }

    @Test func failedRoundsBackOffExponentiallyWithinTheUpperHalfUpToTheCap() {
        var s = schedule()
        var random = SplitMix(state: 1)
        var caps: [Double] = []
        for round in 0..<10 {
            let delay = s.roundFailed(at: 0, using: &random).seconds
            let cap = min(30, 0.5 * Double(1 << round))
            #expect(delay >= cap / 2 && delay <= cap, "round \(round): \(delay) s")
            caps.append(cap)
        }
        #expect(caps.last == 30)
        #expect(s.wait(at: 0) > .zero)
    }

    @Test func aConnectionThatLivedIsSpreadOverTheFirstAttemptAndStartsAfresh() {
        var random = SplitMix(state: 2)
        var waits: [Double] = []
        for _ in 0..<200 {
            var s = schedule()
            for _ in 0..<5 { _ = s.roundFailed(at: 0, using: &random) }
            s.connected(at: 0, endpoint: 0)
            s.lost(at: 60 * Self.second, using: &random)
            #expect(s.attempt == 0)
            waits.append(s.wait(at: 60 * Self.second).seconds)
        }
        #expect(waits.allSatisfy { $0 >= 0 && $0 <= 0.5 })
        // Spread, not in step: the fleet's first attempts fall across the window.
        #expect(waits.filter { $0 < 0.25 }.count > 50 && waits.filter { $0 >= 0.25 }.count > 50)
    }

    @Test func aConnectionThatDiedYoungKeepsBackingOff() {
        var s = schedule()
        var random = SplitMix(state: 3)
        _ = s.roundFailed(at: 0, using: &random)
        _ = s.roundFailed(at: 0, using: &random)
        s.connected(at: 10 * Self.second, endpoint: 1)
        s.lost(at: 11 * Self.second, using: &random)
        #expect(s.attempt == 3)
        let wait = s.wait(at: 11 * Self.second).seconds
        #expect(wait >= 1 && wait <= 2, "the third delay: 2 s jittered over its upper half, got \(wait)")
    }

    @Test func theHostJustLostIsTriedLast() {
        var s = schedule()
        #expect(s.endpointOrder(count: 3) == [0, 1, 2])
        s.connected(at: 0, endpoint: 0)
        #expect(s.endpointOrder(count: 3) == [1, 2, 0])
        s.connected(at: 0, endpoint: 1)
        #expect(s.endpointOrder(count: 3) == [2, 0, 1])
        #expect(s.endpointOrder(count: 1) == [0])
    }

    @Test func aNewConnectionClearsTheWait() {
        var s = schedule()
        var random = SplitMix(state: 4)
        _ = s.roundFailed(at: 0, using: &random)
        s.connected(at: 1, endpoint: 0)
        #expect(s.wait(at: 1) == .zero)
    }
}
