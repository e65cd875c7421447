import AMQP
import LinuxSupport
import Logging

/// The requester gave up if its reply queue is gone (the Python client's exclusive queue dies with its connection
/// after `request_timeout`): running the job would leave a mount its ledger does not know. A passive declare on
/// the consumer's probe channel; a queue seen alive is not asked again for two seconds; a check that cannot be
/// answered runs the job.
struct ReplyQueueCheck: RequesterChecking {
    let consumer: AMQPClient
    let logger: Logger
    let seen = RecentlySeen(freshFor: .seconds(2), capacity: 1024)

    func isGone(replyTo: String) async -> Bool {
        if seen.isFresh(replyTo) { return false }
        do {
            let exists = try await consumer.queueExists(replyTo)
            if exists { seen.remember(replyTo) }
            return !exists
        } catch {
            logger.notice(
                "could not check the reply queue; running the job",
                metadata: [LogKey.replyTo: "\(replyTo)", LogKey.error: "\(error)"])
            return false
        }
    }
}
