import Foundation
import Testing

@testable import AMQP
@testable import DMSAgentCore

/// The journal on a real directory, each test reading it back with a fresh instance as the next agent would.
@Suite(.timeLimit(.minutes(1))) struct JobJournalTests {
    let directory: String

    init() {
        directory = NSTemporaryDirectory() + "journal-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func journal(capacity: Int = 4096) -> JobJournal {
        try! JobJournal(pidDirectory: directory, answeredCapacity: capacity)
    }

    static func delivery(
        _ body: String, correlation: String? = "c1", replyTo: String = "amq.gen-r", messageID: String? = nil,
        deliveryCount: Int64? = nil
    ) -> AMQPDelivery {
        var properties = AMQPProperties(
            correlationID: correlation, replyTo: replyTo, messageID: messageID, timestamp: 42)
        if let deliveryCount { properties.headers["x-delivery-count"] = .int(deliveryCount) }
        return AMQPDelivery(
            body: Array(body.utf8), properties: properties, deliveryTag: 7, redelivered: false, exchange: "trilio_dms",
            routingKey: "dms.n1", generation: 1)
    }

    @Test func aCopyIsKnownWhilePendingAndAfterItsAnswerAcrossARestart() {
        let first = journal()
        _ = first.recover()
        guard case .accepted(let seq) = first.admit(Self.delivery(#"{"action":"mount"}"#)) else {
            Issue.record("not accepted")
            return
        }
        #expect(first.admit(Self.delivery(#"{"action":"mount"}"#)) == .copyOfPending(seq: seq))
        let second = journal()
        let entries = second.recover()
        #expect(entries.map(\.seq) == [seq])
        #expect(entries.first?.delivery.body == Array(#"{"action":"mount"}"#.utf8))
        #expect(entries.first?.delivery.properties.correlationID == "c1")
        #expect(entries.first?.delivery.properties.timestamp == 42)
        #expect(entries.first?.delivery.routingKey == "dms.n1")
        #expect(second.admit(Self.delivery(#"{"action":"mount"}"#)) == .copyOfPending(seq: seq))
        second.answered(seq)
        #expect(second.admit(Self.delivery(#"{"action":"mount"}"#)) == .copyOfAnswered)
        let third = journal()
        #expect(third.recover().isEmpty, "an answered job leaves no file")
        #expect(third.admit(Self.delivery(#"{"action":"mount"}"#)) == .copyOfAnswered)
        #expect(JobJournal.jobFiles(in: directory + "/.jobs").isEmpty)
    }

    @Test func identityIsTheReplyQueueTheCorrelationIDAndTheBody() {
        let a = JobJournal.identity(of: Self.delivery("x"))
        #expect(a != nil)
        #expect(a == JobJournal.identity(of: Self.delivery("x")))
        #expect(a != JobJournal.identity(of: Self.delivery("y")), "another body is another job")
        #expect(a != JobJournal.identity(of: Self.delivery("x", correlation: "c2")))
        #expect(a != JobJournal.identity(of: Self.delivery("x", replyTo: "other")))
        #expect(JobJournal.identity(of: Self.delivery("x", correlation: nil, messageID: "m1")) != nil)
        #expect(JobJournal.identity(of: Self.delivery("x", correlation: nil)) == nil)
        let j = journal()
        _ = j.recover()
        guard case .accepted = j.admit(Self.delivery("x", correlation: nil)),
            case .accepted = j.admit(Self.delivery("x", correlation: nil))
        else {
            Issue.record("a request without identity is never taken for another")
            return
        }
    }

    @Test func aDeathIsCountedAgainstAJobOnlyWhenItRanAlone() {
        let j = journal()
        _ = j.recover()
        guard case .accepted(let alone) = j.admit(Self.delivery("alone")),
            case .accepted(let waiting) = j.admit(Self.delivery("waiting", correlation: "c2"))
        else { return }
        j.started(alone)
        var entries = journal().recover()
        #expect(entries.first { $0.seq == alone }?.soloDeaths == 1)
        #expect(entries.first { $0.seq == alone }?.runningAtDeath == true)
        #expect(entries.first { $0.seq == waiting }?.soloDeaths == 0, "a job not yet started is not counted")
        #expect(entries.first { $0.seq == waiting }?.runningAtDeath == false)
        // A start that never ran the job again (the agent died in recovery) adds nothing.
        entries = journal().recover()
        #expect(entries.first { $0.seq == alone }?.soloDeaths == 1)
        // Two running together: neither is counted; both are marked to run alone.
        let j2 = journal()
        _ = j2.recover()
        j2.started(alone)
        j2.started(waiting)
        entries = journal().recover()
        #expect(entries.first { $0.seq == alone }?.soloDeaths == 1)
        #expect(entries.first { $0.seq == waiting }?.soloDeaths == 0)
        #expect(entries.filter(\.runningAtDeath).count == 2)
    }

    @Test func aGracefulStopIsNotADeath() {
        let j = journal()
        _ = j.recover()
        guard case .accepted(let seq) = j.admit(Self.delivery("hung")) else { return }
        j.started(seq)
        j.interruptRunning()
        let entries = journal().recover()
        #expect(entries.first?.soloDeaths == 0)
        #expect(entries.first?.runningAtDeath == false)
    }

    @Test func aRecordedReplyIsReadBackUnchangedAndTheBrokersCountIsKept() {
        let j = journal()
        _ = j.recover()
        guard case .accepted(let seq) = j.admit(Self.delivery("m", deliveryCount: 2)) else { return }
        j.started(seq)
        j.replied(seq, Array(#"{"status":"success"}"#.utf8))
        let entries = journal().recover()
        #expect(entries.first?.reply == Array(#"{"status":"success"}"#.utf8))
        #expect(entries.first?.runningAtDeath == false, "a replied job is not in flight")
        #expect(entries.first?.deliveryCount == 2)
    }

    @Test func aFileKilledBeforeItsWriteIsDroppedAndTheNextSeqFollowsTheLast() {
        let j = journal()
        _ = j.recover()
        guard case .accepted(let seq) = j.admit(Self.delivery("a")) else { return }
        _ = FileManager.default.createFile(atPath: directory + "/.jobs/ff.job", contents: Data())
        let next = journal()
        #expect(next.recover().map(\.seq) == [seq])
        #expect(!FileManager.default.fileExists(atPath: directory + "/.jobs/ff.job"))
        guard case .accepted(let later) = next.admit(Self.delivery("b")) else { return }
        #expect(later > seq)
    }

    @Test func theAnsweredLogKeepsTheLastCapacityIdentities() throws {
        let j = journal(capacity: 4)
        _ = j.recover()
        for i in 0..<20 {
            guard case .accepted(let seq) = j.admit(Self.delivery("b\(i)")) else { return }
            j.answered(seq)
        }
        let lines = try String(contentsOfFile: directory + "/.jobs/answered", encoding: .utf8).split(separator: "\n")
        #expect(lines.count <= 8)
        let next = journal(capacity: 4)
        _ = next.recover()
        #expect(next.admit(Self.delivery("b19")) == .copyOfAnswered)
        if case .accepted = next.admit(Self.delivery("b0")) {} else { Issue.record("the oldest is forgotten") }
    }
}
