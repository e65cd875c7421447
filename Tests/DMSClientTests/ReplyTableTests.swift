import DMSClient
import Testing

/// The client's bookkeeping without a broker: every transition of who waits for which reply.
struct ReplyTableTests {
    let body: [UInt8] = Array("{\"status\":\"success\"}".utf8)

    @Test func aReplyBeforeItsWaiterIsKeptUntilTakenThenGone() {
        var table = ReplyTable<Int>()
        #expect(table.arrived("a", body).isEmpty)
        #expect(table.unclaimedCount == 1)
        guard case .arrived(let got) = table.wait("a", token: 1, 10) else {
            Issue.record("the kept reply was not handed over")
            return
        }
        #expect(got == body)
        #expect(table.unclaimedCount == 0, "taking removes it")
        guard case .waiting = table.wait("a", token: 2, 11) else {
            Issue.record("a second wait must wait for another reply")
            return
        }
        #expect(table.waitingCount == 1)
    }

    @Test func aReplyGoesToEveryWaiterOfItsIdAndNoOther() {
        var table = ReplyTable<Int>()
        _ = table.wait("a", token: 1, 10)
        _ = table.wait("a", token: 2, 20)
        _ = table.wait("b", token: 3, 30)
        #expect(table.arrived("a", body).sorted() == [10, 20])
        #expect(table.waitingCount == 1)
        #expect(table.unclaimedCount == 0, "a reply that found its waiters is not kept")
    }

    @Test func aWaiterThatGivesUpIsRemovedAndItsLateReplyDropped() {
        var table = ReplyTable<Int>()
        _ = table.wait("a", token: 1, 10)
        #expect(table.giveUp("a", token: 1) == 10)
        #expect(table.giveUp("a", token: 1) == nil, "given up once")
        #expect(table.waitingCount == 0)
        #expect(table.arrived("a", body).isEmpty)
        #expect(table.unclaimedCount == 0, "nobody will take a reply whose waiter gave up")
    }

    @Test func oneOfTwoWaitersGivingUpLeavesTheOtherServed() {
        var table = ReplyTable<Int>()
        _ = table.wait("a", token: 1, 10)
        _ = table.wait("a", token: 2, 20)
        #expect(table.giveUp("a", token: 1) == 10)
        #expect(table.arrived("a", body) == [20])
    }

    @Test func waitingAgainAfterGivingUpTakesTheNextReply() {
        var table = ReplyTable<Int>()
        _ = table.wait("a", token: 1, 10)
        _ = table.giveUp("a", token: 1)
        _ = table.wait("a", token: 2, 20)
        #expect(table.arrived("a", body) == [20])
    }

    @Test func unclaimedRepliesAreBoundedOldestFirst() {
        var table = ReplyTable<Int>(capacity: 3)
        for id in ["a", "b", "c", "d"] { _ = table.arrived(id, body) }
        #expect(table.unclaimedCount == 3)
        guard case .waiting = table.wait("a", token: 1, 10) else {
            Issue.record("the oldest reply was kept beyond the capacity")
            return
        }
        guard case .arrived = table.wait("d", token: 2, 20) else {
            Issue.record("the newest reply was dropped")
            return
        }
    }

    @Test func manyGivenUpIdsStayBounded() {
        var table = ReplyTable<Int>(capacity: 8)
        for token in 1...10_000 {
            _ = table.wait("id-\(token)", token: UInt64(token), token)
            _ = table.giveUp("id-\(token)", token: UInt64(token))
        }
        #expect(table.waitingCount == 0)
        // The last eight are remembered: their late replies are dropped; an older one is kept as unclaimed.
        #expect(table.arrived("id-10000", body).isEmpty)
        #expect(table.unclaimedCount == 0)
        _ = table.arrived("id-1", body)
        #expect(table.unclaimedCount == 1)
    }

    @Test func closingRefusesEveryWaiterAndEveryLaterWait() {
        var table = ReplyTable<Int>()
        _ = table.wait("a", token: 1, 10)
        _ = table.wait("b", token: 2, 20)
        _ = table.arrived("c", body)
        #expect(table.close().sorted() == [10, 20])
        #expect(table.unclaimedCount == 0)
        guard case .closed = table.wait("c", token: 3, 30) else {
            Issue.record("a wait after close must be refused")
            return
        }
        #expect(table.arrived("c", body).isEmpty)
    }
}
