import AMQP
import DMSWire
import FoundationEssentials
import LinuxSupport
import Logging
import VaultFuse

/// A delivery the agent has taken: `seq` is its place in the journal (nil when the journal could not be written:
/// then its delivery stays unacked until its reply is confirmed, as the broker's copy is its only record).
struct TakenJob: Sendable {
    var seq: UInt64?
    var delivery: AMQPDelivery
    /// Deaths of the agent proven against this job (while it ran alone). Never the broker's `x-delivery-count`: that
    /// also counts every death a delivery merely witnessed, held in the prefetch while another job killed the agent
    /// (measured: a healthy job reached 3 beside a poison one), so it would refuse healthy jobs.
    var attempts = 0
}

extension DMSAgent {
    /// On the consuming I/O thread, in delivery order: journal, ack, then schedule in the target's FIFO. The broker's
    /// ack timeout therefore never runs while the job waits for its turn, a hung fuse or an alarm.
    func dispatch(_ delivery: AMQPDelivery) {
        metrics.delivery(redelivered: delivery.redelivered)
        // Beyond `maxPendingJobs` a delivery is not taken: it waits unacked, in order (the prefetch bounds how many),
        // and is taken when a job ends. Under the lock, so an older one is always taken before a newer one.
        overflow.withLock { waiting in
            if waiting.isEmpty && journal.pendingCount < configuration.maxPendingJobs {
                take(delivery)
            } else {
                if waiting.isEmpty {
                    logger.warning(
                        "job journal full; deliveries wait unacked until jobs end",
                        metadata: [
                            LogKey.pending: "\(journal.pendingCount)", LogKey.limit: "\(configuration.maxPendingJobs)",
                        ])
                }
                waiting.append(delivery)
            }
        }
    }

    /// Takes the deliveries that waited for room in the journal, oldest first.
    func takeWaiting() {
        overflow.withLock { waiting in
            while !waiting.isEmpty && journal.pendingCount < configuration.maxPendingJobs {
                take(waiting.removeFirst())
            }
        }
    }

    private func take(_ delivery: AMQPDelivery) {
        let marks = StageMarks()
        marks.mark("received", at: delivery.receivedAt > 0 ? delivery.receivedAt : monotonicNanos())
        var job = TakenJob(seq: nil, delivery: delivery)
        switch journal.admit(delivery) {
        case .copyOfPending(let seq):
            copyAcked(delivery, "a copy of a job this agent has taken and not yet answered; acked, not run again", seq)
            return
        case .copyOfAnswered:
            copyAcked(delivery, "a copy of a job this agent has answered; acked, neither run nor answered again", nil)
            return
        case .unwritable(let why):
            logger.error(
                "job journal not writable; this job is acked only after its reply",
                metadata: [LogKey.error: "\(why)", LogKey.correlationID: "\(delivery.properties.correlationID ?? "-")"])
        case .accepted(let seq):
            job.seq = seq
            Failpoint.hit("after-journal")
            acknowledge(delivery)
        }
        schedule(job, marks: marks)
    }

    private func copyAcked(_ delivery: AMQPDelivery, _ what: String, _ seq: UInt64?) {
        metrics.copyRecognised()
        logger.notice(
            "\(what)",
            metadata: [
                LogKey.correlationID: "\(delivery.properties.correlationID ?? "-")",
                LogKey.redelivered: "\(delivery.redelivered)",
                LogKey.journalSeq: "\(seq.map(String.init) ?? "-")",
            ])
        acknowledge(delivery)
    }

    /// Queues the ack for the consuming connection. One from an earlier connection or channel is dropped, and said
    /// so: the broker redelivers that delivery and the journal knows the copy.
    func acknowledge(_ delivery: AMQPDelivery) {
        if consumer.queueAck(delivery) == .staleDelivery {
            logger.notice(
                "ack dropped: the delivery came on a connection or channel that is gone; the broker redelivers it and the journal recognises the copy",
                metadata: [LogKey.correlationID: "\(delivery.properties.correlationID ?? "-")"])
        }
    }

    /// Parses (or refuses) and submits to the target's FIFO. Every check here is a pure function of the delivery, so
    /// a job read back from the journal is classified as it was when it arrived.
    func schedule(_ job: TakenJob, marks: StageMarks = StageMarks()) {
        let (key, work) = classify(job, marks: marks)
        scheduler.submit(key: key, work)
    }

    func classify(_ job: TakenJob, marks: StageMarks) -> (key: String, work: JobScheduler.Job) {
        let delivery = job.delivery
        let refusalKey = "refused:\(job.seq.map { "j\($0)" } ?? "d\(delivery.deliveryTag)")"
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
            return (refusalKey, { await self.refuse(job, error) })
        }
        switch RequestParser.parse(delivery.body) {
        case .failure(let error):
            return (refusalKey, { await self.refuse(job, error) })
        case .success(let request):
            marks.mark("parsed")
            let key = request.target.map { "\($0.type.rawValue):\($0.id)" } ?? "status"
            return (key, { await StageMarks.$current.withValue(marks) { await self.process(job, request) } })
        }
    }

    /// Malformed input: an error reply without secrets, a scrubbed copy to the dead-letter queue, then answered.
    /// Never requeued, never lost: should the copy not be confirmed, the log keeps it.
    func refuse(_ job: TakenJob, _ error: RequestError) async {
        let correlation = job.delivery.properties.correlationID ?? "-"
        logger.warning(
            "malformed request refused",
            metadata: [
                LogKey.code: "\(error.code.rawValue)", LogKey.error: "\(error.message)",
                LogKey.correlationID: "\(correlation)",
            ])
        let reply = JobReply.failure(
            error.code, error.message, nodeID: configuration.nodeID, targetID: error.targetID, jobID: error.jobID)
        await deadLetter(job.delivery, code: error.code, error: error.message)
        _ = await answer(job, with: reply.encoded())
    }

    /// A scrubbed copy of the request in `trilio_dms.dead`, confirmed, or its body in the log.
    func deadLetter(_ delivery: AMQPDelivery, code: ReplyCode, error: String) async {
        let copy = DeadLetter.message(
            for: delivery, queue: configuration.deadLetterQueue, code: code, error: error,
            nodeID: configuration.nodeID, timestamp: UInt64(Date().timeIntervalSince1970))
        do {
            try await publisher.publish(copy)
        } catch {
            logger.error(
                "dead letter not confirmed; its scrubbed body follows",
                metadata: [
                    LogKey.queue: "\(configuration.deadLetterQueue)",
                    LogKey.correlationID: "\(delivery.properties.correlationID ?? "-")", LogKey.error: "\(error)",
                    LogKey.body: "\(String(decoding: copy.body.prefix(4096), as: UTF8.self))",
                ])
        }
        metrics.deadLettered()
    }

    /// One job, its stages marked on the task's `StageMarks` (the per-stage histograms).
    func process(_ job: TakenJob, _ request: JobRequest) async {
        StageMarks.mark("turn")
        let delivery = job.delivery
        var log = logger
        log[metadataKey: LogKey.targetID] = "\(request.target?.id ?? "-")"
        log[metadataKey: LogKey.jobID] = "\(request.jobID.map(String.init) ?? "-")"
        log[metadataKey: LogKey.correlationID] = "\(delivery.properties.correlationID ?? "-")"
        if job.attempts >= configuration.maxJobAttempts {
            await poisoned(job, request, log: log)
            return
        }
        let started = monotonicNanos()
        let token = metrics.jobStarted()
        // Before the effect: should this job kill the agent, the next start knows which job it was.
        if let seq = job.seq { journal.started(seq) }
        log.info(
            "starting",
            metadata: [
                LogKey.action: "\(request.action.rawValue)", LogKey.attempt: "\(job.attempts + 1)",
                LogKey.redelivered: "\(delivery.redelivered)",
                LogKey.deliveryCount: "\(JobJournal.deliveryCount(of: delivery))",
            ])
        Failpoint.hit("after-start")
        if let target = request.target?.id { Failpoint.hit("kill-on-target:\(target)") }
        // On the blocking pool, as the scheduler runs every job (see `DMSAgent.scheduler`).
        let decision = await executor.decide(
            request, timestamp: delivery.properties.timestamp, replyTo: delivery.properties.replyTo)
        StageMarks.mark("decided")
        let reply: JobReply
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
                    LogKey.action: "\(request.action.rawValue)",
                    LogKey.replyTo: "\(delivery.properties.replyTo ?? "-")",
                ])
            await publishEvent(
                StatusEvent(
                    event: .requestAbandoned, nodeID: configuration.nodeID,
                    targetID: request.target.flatMap { TargetID.isValid($0.id) ? $0.id : nil },
                    mountPath: request.target?.mountPath,
                    detail:
                        "\(request.action.rawValue) not executed: reply queue \(delivery.properties.replyTo ?? "-") is gone"
                ))
            await finish(job)
            return
        }
        log.info(
            "job done",
            metadata: [
                LogKey.action: "\(request.action.rawValue)", LogKey.status: "\(reply.status.rawValue)",
                LogKey.code: "\(reply.code.rawValue)",
                LogKey.redelivered: "\(delivery.redelivered)",
                LogKey.elapsed: "\(LogValue.duration(.nanoseconds(Int64(monotonicNanos() - started))))",
            ])
        _ = await answer(job, with: reply.encoded())
        StageMarks.mark("acked")
        executor.afterReply(reply, to: request)
        metrics.jobFinished(token, action: request.action.rawValue, status: reply.status.rawValue)
        if let marks = StageMarks.current { metrics.stages(marks.stages) }
    }

    /// A job during which the agent died `maxJobAttempts` times: never run again. Its requester gets an error of its
    /// own, the dead-letter queue a scrubbed copy, and the log, a metric and an event name it.
    func poisoned(_ job: TakenJob, _ request: JobRequest, log: Logger) async {
        let target = request.target.flatMap { TargetID.isValid($0.id) ? $0.id : nil }
        let text =
            "\(request.action.rawValue) of \(target ?? "the node") not run again: the agent died during \(job.attempts) attempts of this job (limit \(configuration.maxJobAttempts)); a scrubbed copy is in \(configuration.deadLetterQueue)"
        log.error(
            "job killed the agent; not run again",
            metadata: [
                LogKey.action: "\(request.action.rawValue)", LogKey.attempts: "\(job.attempts)",
                LogKey.limit: "\(configuration.maxJobAttempts)",
            ])
        metrics.poisoned()
        await publishEvent(
            StatusEvent(
                event: .requestPoisoned, nodeID: configuration.nodeID, targetID: target,
                mountPath: request.target?.mountPath, detail: text))
        await deadLetter(job.delivery, code: .attemptsExhausted, error: text)
        let reply = JobReply.failure(
            .attemptsExhausted, text, nodeID: configuration.nodeID, targetID: target, jobID: request.jobID)
        _ = await answer(job, with: reply.encoded())
    }

    /// Records the reply, publishes it and, once confirmed, marks the job answered (acking it when the journal could
    /// not take it). Should the agent die before the confirm, its next start publishes the same reply again.
    func answer(_ job: TakenJob, with body: [UInt8]) async -> ReplyOutcome {
        if let seq = job.seq { journal.replied(seq, body) }
        Failpoint.hit("after-reply-recorded")
        let outcome = await sendReply(body, to: job.delivery)
        switch outcome {
        case .delivered, .refused:
            // Refused: the broker will never take it; running the job again would not help and would undo this
            // target's later jobs. The requester times out; the log and metric say why.
            Failpoint.hit("after-reply")
            await finish(job)
        case .unknown:
            // The publisher closed before the broker answered (the agent stops): the next start publishes the
            // recorded reply again; an unjournaled delivery is redelivered by the broker.
            break
        }
        return outcome
    }

    private func finish(_ job: TakenJob) async {
        if let seq = job.seq { journal.answered(seq) } else { acknowledge(job.delivery) }
        takeWaiting()
    }

    enum ReplyOutcome { case delivered, refused, unknown }

    /// Publishes the reply (mandatory, confirmed) and waits for the broker's answer while the publisher lives:
    /// across a blocked broker and reconnects (an unconfirmed reply is sent again on the next connection). A
    /// reply queue that no longer exists counts as delivered (the requester gave up).
    func sendReply(_ body: [UInt8], to delivery: AMQPDelivery) async -> ReplyOutcome {
        guard let replyTo = delivery.properties.replyTo, !replyTo.isEmpty else { return .delivered }
        let message = AMQPOutgoingMessage(
            exchange: "", routingKey: replyTo, body: body,
            properties: AMQPProperties(
                contentType: "application/json", correlationID: delivery.properties.correlationID,
                timestamp: UInt64(Date().timeIntervalSince1970)),
            mandatory: true)
        let ticket = pendingReplies.begin()
        defer { pendingReplies.end(ticket) }
        StageMarks.mark("reply_sent")
        do {
            try await publisher.publish(message, timeout: .never)
            StageMarks.mark("confirmed")
            return .delivered
        } catch let error as AMQPError where error.code == .unroutable {
            logger.notice("reply queue is gone; requester stopped waiting", metadata: [LogKey.replyTo: "\(replyTo)"])
            return .delivered
        } catch let error as AMQPError where error.code == .refused || error.code == .publishNacked {
            logger.error(
                "reply refused by the broker; the job is answered without it",
                metadata: [LogKey.replyTo: "\(replyTo)", LogKey.error: "\(error)"])
            metrics.replyRefused()
            return .refused
        } catch {
            logger.warning(
                "reply not confirmed before the publisher closed; the next start sends it again",
                metadata: [LogKey.error: "\(error)"])
            return .unknown
        }
    }

    // MARK: Resuming the journal

    /// At start, before any new delivery: queues the jobs the last agent took and did not finish, in the order they
    /// were taken (a recorded reply is published again unchanged), and returns those that were running beside others
    /// when it died or have killed it before: `runAlone` runs them first, one at a time, so that a death among them is
    /// proven against one job.
    func resumeJournal(_ entries: [JobJournal.Entry]) -> [TakenJob] {
        guard !entries.isEmpty else { return [] }
        let running = entries.filter(\.runningAtDeath)
        // Run alone: those that ran beside others at the death (which of them killed it?) and every job a death is
        // already proven against (so that its next death is proven too, and no healthy job is caught beside it).
        let suspects = Set(
            entries.filter { ($0.runningAtDeath && running.count > 1) || ($0.soloDeaths > 0 && $0.reply == nil) }
                .map(\.seq))
        logger.notice(
            "resuming jobs the last agent took",
            metadata: [
                LogKey.jobs: "\(entries.count)", LogKey.wereRunning: "\(running.count)",
                LogKey.repliesToResend: "\(entries.filter { $0.reply != nil }.count)",
                LogKey.runAloneFirst: "\(suspects.count)",
            ])
        var alone: [TakenJob] = []
        for entry in entries {
            let job = TakenJob(seq: entry.seq, delivery: entry.delivery, attempts: entry.soloDeaths)
            if let reply = entry.reply {
                let key = classify(job, marks: StageMarks()).key
                scheduler.submit(key: key) { _ = await self.answer(job, with: reply) }
            } else if suspects.contains(entry.seq) {
                alone.append(job)
            } else {
                schedule(job)
            }
        }
        return alone
    }

    /// Runs each job alone, in order, on the blocking pool (as the scheduler runs every job), before the scheduler
    /// starts anything else.
    func runAlone(_ jobs: [TakenJob]) async {
        for job in jobs {
            let work = classify(job, marks: StageMarks()).work
            await BlockingPool.run { await work() }
        }
    }
}
