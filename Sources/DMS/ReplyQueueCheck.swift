import AMQP
import Dispatch
import LinuxSupport
import Logging

/// The requester gave up if its reply queue is gone (the Python client's exclusive queue dies with its connection
/// after `request_timeout`): running the job would leave a mount its ledger does not know. A passive declare on
/// the consumer's probe channel; a queue seen alive is not asked again for two seconds; a check that cannot be
/// answered runs the job.
struct ReplyQueueCheck: RequesterChecking {
    let consumer: AMQPClient
    let logger: Logger
    let seen = RecentlySeen(seconds: 2, capacity: 1024)

    func isGone(replyTo: String) async -> Bool {
        if seen.isFresh(replyTo) { return false }
        do {
            let exists = try await consumer.queueExists(replyTo)
            if exists { seen.remember(replyTo) }
            return !exists
        } catch {
            logger.notice(
                "could not check the reply queue; running the job",
                metadata: ["reply_to": "\(replyTo)", "error": "\(error)"])
            return false
        }
    }
}

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
        let now = DispatchTime.now().uptimeNanoseconds
        return seen.withLock { $0[name].map { now - $0 < UInt64(seconds * 1e9) } ?? false }
    }

    func remember(_ name: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        seen.withLock { seen in
            if seen.count >= capacity { seen = seen.filter { now - $0.value < UInt64(seconds * 1e9) } }
            if seen.count >= capacity, let oldest = seen.min(by: { $0.value < $1.value })?.key {
                seen.removeValue(forKey: oldest)
            }
            seen[name] = now
        }
    }
}
