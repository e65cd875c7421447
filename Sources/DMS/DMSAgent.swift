import AMQP
import Dispatch
import FoundationEssentials
import Glibc
import LinuxSupport
import Logging
import ServiceLifecycle
import VaultFuse

/// The job bus: consumes `dms.<node_id>`, runs mount/unmount/status jobs through the VaultFuse manager
/// (S3) or the mount table (NFS), replies to `reply_to` and publishes status events.
///
/// A reply is published and confirmed before its request is acked, so a crash means redelivery; every
/// action is idempotent per target. Jobs of one target run in arrival order, different targets in parallel.
public final class DMSAgent: Service, Sendable {
    public let configuration: AgentConfiguration
    public let manager: S3VaultFuseManager
    let logger: Logger
    let consumer: AMQPClient
    let publisher: AMQPClient
    let scheduler = JobScheduler()
    let executor: JobExecutor
    let metrics = AgentMetrics()

    /// Takes the PID-directory lock: a second agent on the same directory refuses to start (exit status 3).
    public init(configuration: AgentConfiguration, logger: Logger) throws(CommandError) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "node_id"] = "\(configuration.nodeID)"
        self.logger = logger
        // Every blocking wait runs on a thread of the blocking pool; without a cap glibc gives each its own malloc
        // arena and the resident size of a long-running agent creeps up.
        Memory.limitMallocArenas(2)
        do {
            manager = try S3VaultFuseManager(configuration: configuration.vaultFuse, logger: logger)
        } catch {
            throw CommandError(error.message, exitCode: 3)
        }
        var consumerConfig = configuration.amqp
        consumerConfig.connectionName = "dms-agent@\(configuration.nodeID)"
        consumer = AMQPClient(
            configuration: consumerConfig, topology: configuration.consumerTopology,
            consumer: AMQPConsumerOptions(queue: configuration.requestQueue, prefetch: configuration.workers),
            logger: logger)
        var publisherConfig = configuration.amqp
        publisherConfig.connectionName = "dms-agent@\(configuration.nodeID)/publish"
        publisher = AMQPClient(
            configuration: publisherConfig, topology: configuration.publisherTopology, logger: logger)
        var settings = JobExecutor.Settings(nodeID: configuration.nodeID)
        settings.maxRequestAge = configuration.maxRequestAge
        settings.s3EnvFile = configuration.s3EnvFile
        executor = JobExecutor(
            settings: settings, targets: manager,
            directories: MountBaseDirectories(bases: configuration.vaultFuse.mountBases),
            secrets: BarbicanClient(
                timeout: configuration.barbicanTimeout, verifyTLS: configuration.barbicanVerifyTLS,
                caBundle: configuration.barbicanCABundle),
            nfs: SystemNFS(
                NFSMounter(commandPrefix: configuration.nfsCommandPrefix, timeout: configuration.nfsTimeout)),
            requesters: ReplyQueueCheck(consumer: consumer, logger: logger))
    }

    /// Broker connected and consuming (`/readyz`).
    public var isReady: Bool { notReadyReason == nil }

    /// Why `/readyz` answers 503: the refusal or outage of the consuming or the publishing connection, in the
    /// broker's words, or start-up; nil when ready.
    public var notReadyReason: String? {
        if publisher.isBlocked {
            return "the broker blocks publishing (memory or disk alarm): replies and events are held"
        }
        if let age = pendingReplies.oldestAge, age > configuration.amqp.publishTimeout {
            return "a reply has waited \(Int(age)) s for the broker's confirm (\(pendingReplies.count) waiting)"
        }
        if consumer.isConnected && consuming.withLock({ $0 }) { return nil }
        if let error = consumer.lastError { return "not consuming \(configuration.requestQueue): \(error.message)" }
        if let error = publisher.lastError { return "cannot publish (replies, events): \(error.message)" }
        return "not consuming \(configuration.requestQueue) yet (starting or recovering)"
    }
    /// The process is up and holds the PID-directory lock (`/healthz`).
    public var isHealthy: Bool { manager.holdsLock }
    let consuming = Locked(false)
    let pendingReplies = PendingReplies()

    /// Updates the gauges; call right before exporting metrics.
    public func refreshMetrics() {
        metrics.refresh(
            manager: manager, reconnects: consumer.reconnectCount + publisher.reconnectCount,
            connected: consumer.isConnected,
            blocked: publisher.isBlocked, unconfirmedReplies: pendingReplies.count, ready: isReady)
    }

    // MARK: Run

    /// Recover, connect, consume until graceful shutdown, drain within the grace period, say goodbye. The event
    /// publisher, the start-up event and the I/O watchdog are child tasks of this one; jobs run on the
    /// scheduler's runners, which this method waits for up to the grace period (a job blocked in the kernel on a
    /// hung FUSE or NFS mount cannot be cancelled, and must not keep the agent from exiting).
    /// Every long-lived part, in the order of a `ServiceGroup` (which stops them in reverse): the manager (its lock
    /// and exit watcher), the publishing and the consuming connection, the agent, the heartbeat. On SIGTERM the
    /// heartbeat stops, the agent drains and says goodbye, the connections close, the manager lets go of the lock.
    public var services: [any Service] {
        [
            ManagerService(manager: manager), AMQPConnectionService(client: publisher, role: "publisher"),
            AMQPConnectionService(client: consumer, role: "consumer"), self, Heartbeat(agent: self),
        ]
    }

    public func run() async throws {
        // Subscribed before recovery, so adoptions and cleanups at start are published too.
        let events = manager.events()
        await withTaskGroup(of: Void.self) { background in
            background.addTask {
                for await event in events {
                    self.metrics.event(event)
                    await self.publish(event)
                }
            }
            background.addTask { await self.watchForStalls() }
            await serve(background: &background)
            background.cancelAll()
        }
        logger.info("stopped; every s3vaultfuse keeps running")
    }

    /// Recover, then consume once the consuming connection is up (deliveries that arrive meanwhile wait), drain
    /// within the grace period on graceful shutdown, say goodbye. The connections are services of their own.
    private func serve(background: inout TaskGroup<Void>) async {
        let report = await manager.recover()
        // Events never delay consuming: node.started goes out once the publisher is connected.
        let started = StatusEvent(
            event: .nodeStarted, nodeID: configuration.nodeID,
            detail:
                "recovered loaded=\(report.loaded) cleaned=\(report.cleaned) in \(Double(Int(report.seconds * 1000)) / 1000) s",
            stats: await manager.stats())
        background.addTask {
            guard await Self.untilConnected(self.publisher) else { return }
            await self.publishEvent(started)
        }
        // A stop requested while the broker is still unreachable must not wait for it.
        guard await Self.untilConnected(consumer) else {
            logger.info("stopped before the broker was reached; every s3vaultfuse keeps running")
            return
        }
        consuming.withLock { $0 = true }
        logger.info(
            "consuming", metadata: ["queue": "\(configuration.requestQueue)", "workers": "\(configuration.workers)"])
        await withGracefulShutdownHandler {
            for await delivery in consumer.deliveries { dispatch(delivery) }
        } onGracefulShutdown: {
            Task { await self.consumer.stopConsuming() }
        }
        consuming.withLock { $0 = false }
        logger.info("stopping: waiting for in-flight jobs", metadata: ["in_flight": "\(scheduler.inFlight)"])
        if await !scheduler.waitUntilIdle(seconds: configuration.shutdownGrace) {
            logger.warning("shutdown grace period over; unfinished jobs stay unacked and are redelivered")
        }
        if publisher.isConnected {
            await publishEvent(
                StatusEvent(event: .nodeStopping, nodeID: configuration.nodeID, stats: await manager.stats()))
        }
    }

    /// Waits until `client` is connected; false when the agent is asked to stop (or cancelled) first.
    private static func untilConnected(_ client: AMQPClient) async -> Bool {
        do {
            try await cancelWhenGracefulShutdown {
                while !client.isConnected { try await Task.sleep(for: .milliseconds(10)) }
            }
            return true
        } catch {
            return false
        }
    }

    /// Crash-only: when an AMQP I/O thread is wedged in a rabbitmq-c call, exit so the supervisor restarts the agent;
    /// every fuse keeps running and the next agent adopts it. Waiting would leave the node deaf forever.
    private func watchForStalls() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(5))
            let stall = max(consumer.ioStallSeconds, publisher.ioStallSeconds)
            if stall > 0 {
                logger.critical(
                    "AMQP I/O thread blocked; exiting so the supervisor restarts the agent",
                    metadata: ["overdue_s": "\(stall)"])
                exit(70)
            }
        }
    }

    /// Publishes `node.heartbeat` with the manager's figures.
    public func publishHeartbeat() async {
        await publishEvent(
            StatusEvent(event: .nodeHeartbeat, nodeID: configuration.nodeID, stats: await manager.stats()))
    }

    // MARK: Dispatch

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
            Task { await self.refuse(delivery, error) }
            return
        }
        switch RequestParser.parse(delivery.body) {
        case .failure(let error):
            Task { await self.refuse(delivery, error) }
        case .success(let request):
            let key = request.target.map { "\($0.type.rawValue):\($0.id)" } ?? "status"
            scheduler.submit(key: key) { await self.process(delivery, request) }
        }
    }

    /// Malformed input: an error reply without secrets, a scrubbed copy to the dead-letter queue, then ack.
    /// Never requeued, never lost: should the copy not be confirmed, the log keeps it.
    private func refuse(_ delivery: AMQPDelivery, _ error: RequestError) async {
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

    private func process(_ delivery: AMQPDelivery, _ request: JobRequest) async {
        let started = DispatchTime.now().uptimeNanoseconds
        let token = metrics.jobStarted()
        var log = logger
        log[metadataKey: "target_id"] = "\(request.target?.id ?? "-")"
        log[metadataKey: "jobid"] = "\(request.jobID.map(String.init) ?? "-")"
        log[metadataKey: "correlation_id"] = "\(delivery.properties.correlationID ?? "-")"
        let reply: JobReply
        // The whole job (stat and realpath of mount paths, /proc, mount(8), the manager) runs on the blocking pool: a
        // path served by a hung FUSE process or NFS server holds this job's thread, never the cooperative pool.
        let decision = await OSThread.blocking {
            await executor.decide(
                request, timestamp: delivery.properties.timestamp, replyTo: delivery.properties.replyTo)
        }
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
                "elapsed_ms": "\(Double((DispatchTime.now().uptimeNanoseconds - started) / 10_000) / 100)",
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
        await OSThread.blocking { executor.afterReply(reply, to: request) }
        metrics.jobFinished(token, action: request.action.rawValue, status: reply.status.rawValue)
    }

    enum ReplyOutcome { case delivered, refused, unknown }

    /// Publishes the reply (mandatory, confirmed) and waits for the broker's answer while the publisher lives:
    /// across a blocked broker and reconnects (an unconfirmed reply is sent again on the next connection). A
    /// reply queue that no longer exists counts as delivered (the requester gave up).
    private func sendReply(_ reply: JobReply, to delivery: AMQPDelivery) async -> ReplyOutcome {
        guard let replyTo = delivery.properties.replyTo, !replyTo.isEmpty else { return .delivered }
        let message = AMQPOutgoingMessage(
            exchange: "", routingKey: replyTo, body: reply.encoded(),
            properties: AMQPProperties(
                contentType: "application/json", correlationID: delivery.properties.correlationID,
                timestamp: UInt64(Date().timeIntervalSince1970)),
            mandatory: true)
        let ticket = pendingReplies.begin()
        defer { pendingReplies.end(ticket) }
        do {
            try await publisher.publish(message, timeout: .infinity)
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

    // MARK: Events

    private func publish(_ event: ManagerEvent) async {
        let node = configuration.nodeID
        let status: StatusEvent
        switch event {
        case .mounted(let t, let pid, let path):
            status = StatusEvent(event: .mounted, nodeID: node, targetID: t, pid: pid, mountPath: path)
        case .unmounted(let t, let pid, let path):
            status = StatusEvent(event: .unmounted, nodeID: node, targetID: t, pid: pid, mountPath: path)
        case .adopted(let t, let pid, let path):
            status = StatusEvent(event: .adopted, nodeID: node, targetID: t, pid: pid, mountPath: path)
        case .staleCleaned(let t, let path, let detail):
            status = StatusEvent(event: .staleCleaned, nodeID: node, targetID: t, mountPath: path, detail: detail)
        case .crashed(let t, let pid, let path, let detail):
            status = StatusEvent(event: .crashed, nodeID: node, targetID: t, pid: pid, mountPath: path, detail: detail)
        }
        await publishEvent(status)
    }

    /// Best effort: an event that cannot be confirmed within the publish timeout is logged and dropped.
    func publishEvent(_ event: StatusEvent) async {
        guard let body = try? JSONEncoder().encode(event) else { return }
        do {
            try await publisher.publish(
                AMQPOutgoingMessage(
                    exchange: configuration.statusExchange, routingKey: event.routingKey, body: Array(body),
                    properties: AMQPProperties(contentType: "application/json", persistent: true)))
        } catch {
            logger.warning(
                "status event not published", metadata: ["event": "\(event.event.rawValue)", "error": "\(error)"])
        }
    }
}
