import AMQP
import DMSWire
import FoundationEssentials
import LinuxSupport
import Logging
import VaultFuse

extension DMSAgent {
    func dispatch(_ delivery: AMQPDelivery) {
        metrics.delivery(redelivered: delivery.redelivered)
        if !configuration.allowedPublishers.isEmpty,
            !configuration.allowedPublishers.contains(delivery.properties.userID ?? "")
        {
            // A compromised node can publish into any queue through the default exchange; the broker-checked
            // user_id is how this node tells the orchestrator from another compute node.
            let who =
                delivery.properties.userID.map { "user \($0.prefix(64).debugDescription)" }
                ?? "a publisher without user_id"
            let error = RequestError(
                code: .publisherNotAllowed,
                message: "Request from \(who) refused: not one of this node's allowed publishers; not executed")
            refuseInTurn(delivery, error)
            return
        }
        let marks = StageMarks()
        marks.mark("received", at: delivery.receivedAt > 0 ? delivery.receivedAt : monotonicNanos())
        switch RequestParser.parse(delivery.body) {
        case .failure(let error):
            refuseInTurn(delivery, error)
        case .success(let request):
            marks.mark("parsed")
            let key = request.target.map { "\($0.type.rawValue):\($0.id)" } ?? "status"
            scheduler.submit(key: key) {
                await StageMarks.$current.withValue(marks) { await self.process(delivery, request) }
            }
        }
    }

    /// A refusal runs on a scheduler runner of its own (keyed by its delivery), so the drain waits for it as for jobs.
    private func refuseInTurn(_ delivery: AMQPDelivery, _ error: RequestError) {
        scheduler.submit(key: "refused:\(delivery.deliveryTag)") { await self.refuse(delivery, error) }
    }

    /// Malformed input: an error reply without secrets, a scrubbed copy to the dead-letter queue, then ack.
    /// Never requeued, never lost: should the copy not be confirmed, the log keeps it.
    func refuse(_ delivery: AMQPDelivery, _ error: RequestError) async {
        let correlation = delivery.properties.correlationID ?? "-"
        logger.warning(
            "malformed request refused",
            metadata: [
                "code": "\(error.code.rawValue)", "error": "\(error.message)",
                "correlation_id": "\(correlation)",
            ])
        let reply = JobReply.failure(
            error.code, error.message, nodeID: configuration.nodeID, targetID: error.targetID, jobID: error.jobID)
        _ = await sendReply(reply, to: delivery)
        let copy = DeadLetter.message(
            for: delivery, queue: configuration.deadLetterQueue, code: error.code, error: error.message,
            nodeID: configuration.nodeID, timestamp: UInt64(Date().timeIntervalSince1970))
        do {
            try await publisher.publish(copy)
        } catch {
            logger.error(
                "dead letter not confirmed; its scrubbed body follows",
                metadata: [
                    "queue": "\(configuration.deadLetterQueue)", "correlation_id": "\(correlation)",
                    "error": "\(error)",
                    "body": "\(String(decoding: copy.body.prefix(4096), as: UTF8.self))",
                ])
        }
        await consumer.ack(delivery)
        metrics.deadLettered()
    }

    /// One job, its stages marked on the task's `StageMarks` (the per-stage histograms).
    func process(_ delivery: AMQPDelivery, _ request: JobRequest) async {
        StageMarks.mark("turn")
        let started = monotonicNanos()
        let token = metrics.jobStarted()
        var log = logger
        log[metadataKey: "target_id"] = "\(request.target?.id ?? "-")"
        log[metadataKey: "jobid"] = "\(request.jobID.map(String.init) ?? "-")"
        log[metadataKey: "correlation_id"] = "\(delivery.properties.correlationID ?? "-")"
        let reply: JobReply
        // On the blocking pool, as the scheduler runs every job (see `DMSAgent.scheduler`).
        let decision = await executor.decide(
            request, timestamp: delivery.properties.timestamp, replyTo: delivery.properties.replyTo)
        StageMarks.mark("decided")
        switch decision {
        case .reply(let r):
            reply = r
            if r.code == .expired { metrics.expired() }
        case .abandoned:
            metrics.jobFinished(token, action: request.action.rawValue, status: "abandoned")
            metrics.abandoned()
            log.notice(
                "requester gone (reply queue deleted); not executed",
                metadata: [
                    "action": "\(request.action.rawValue)", "reply_to": "\(delivery.properties.replyTo ?? "-")",
                ])
            await publishEvent(
                StatusEvent(
                    event: .requestAbandoned, nodeID: configuration.nodeID,
                    targetID: request.target.flatMap { TargetID.isValid($0.id) ? $0.id : nil },
                    mountPath: request.target?.mountPath,
                    detail:
                        "\(request.action.rawValue) not executed: reply queue \(delivery.properties.replyTo ?? "-") is gone"
                ))
            await consumer.ack(delivery)
            return
        }
        log.info(
            "job done",
            metadata: [
                "action": "\(request.action.rawValue)", "status": "\(reply.status.rawValue)",
                "code": "\(reply.code.rawValue)",
                "redelivered": "\(delivery.redelivered)",
                "elapsed_ms": "\(Double((monotonicNanos() - started) / 10_000) / 100)",
            ])
        switch await sendReply(reply, to: delivery) {
        case .delivered:
            Failpoint.hit("after-reply")
            await consumer.ack(delivery)
        case .refused:
            // The broker will never take it: running the job again would not help and, requeued behind this
            // target's later jobs, would undo them. The requester times out; the log and metric say why.
            await consumer.ack(delivery)
        case .unknown:
            // The client closed before the broker answered: the reply may have been delivered. Never requeue
            // (it would come back behind this target's later jobs); the broker redelivers it when this
            // connection closes, and the job is idempotent.
            break
        }
        StageMarks.mark("acked")
        executor.afterReply(reply, to: request)
        metrics.jobFinished(token, action: request.action.rawValue, status: reply.status.rawValue)
        if let marks = StageMarks.current { metrics.stages(marks.stages) }
    }

    enum ReplyOutcome { case delivered, refused, unknown }

    /// Publishes the reply (mandatory, confirmed) and waits for the broker's answer while the publisher lives:
    /// across a blocked broker and reconnects (an unconfirmed reply is sent again on the next connection). A
    /// reply queue that no longer exists counts as delivered (the requester gave up).
    func sendReply(_ reply: JobReply, to delivery: AMQPDelivery) async -> ReplyOutcome {
        guard let replyTo = delivery.properties.replyTo, !replyTo.isEmpty else { return .delivered }
        let message = AMQPOutgoingMessage(
            exchange: "", routingKey: replyTo, body: reply.encoded(),
            properties: AMQPProperties(
                contentType: "application/json", correlationID: delivery.properties.correlationID,
                timestamp: UInt64(Date().timeIntervalSince1970)),
            mandatory: true)
        let ticket = pendingReplies.begin()
        defer { pendingReplies.end(ticket) }
        StageMarks.mark("reply_sent")
        do {
            try await publisher.publish(message, timeout: .infinity)
            StageMarks.mark("confirmed")
            return .delivered
        } catch let error as AMQPError where error.code == .unroutable {
            logger.notice("reply queue is gone; requester stopped waiting", metadata: ["reply_to": "\(replyTo)"])
            return .delivered
        } catch let error as AMQPError where error.code == .refused || error.code == .publishNacked {
            logger.error(
                "reply refused by the broker; the request is acked unanswered",
                metadata: ["reply_to": "\(replyTo)", "error": "\(error)"])
            metrics.replyRefused()
            return .refused
        } catch {
            logger.warning(
                "reply not confirmed before the publisher closed; the broker redelivers the request",
                metadata: ["error": "\(error)"])
            return .unknown
        }
    }
}
