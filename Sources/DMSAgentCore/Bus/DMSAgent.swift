import AMQP
import DMSWire
import FoundationEssentials
import Glibc
import LinuxSupport
package import Logging
package import ServiceLifecycle
package import VaultFuse

/// The job bus: consumes `dms.<node_id>`, runs mount/unmount/status jobs through the VaultFuse manager
/// (S3) or the mount table (NFS), replies to `reply_to` and publishes status events.
///
/// A delivery is acked once it is in the job journal; its reply is recorded before it is published and the job is
/// answered once the broker confirms it, so a crash resumes the job, or sends the same reply again, and a broker's copy
/// of a job already taken is recognised and not run again. Jobs of one target run in arrival order, different
/// targets in parallel.
package final class DMSAgent: Service, Sendable {
    package let configuration: AgentConfiguration
    package let manager: S3VaultFuseManager
    let logger: Logger
    let consumer: AMQPClient
    let publisher: AMQPClient
    /// Jobs run on the blocking pool from their turn to their ack: the stat and realpath of mount paths, /proc,
    /// mount(8) and the manager may block (a path served by a hung FUSE process or NFS server holds that job's thread,
    /// never the cooperative pool), and a job that stays there makes no hop between the pools at each step.
    /// Held until the agent has recovered: deliveries are journaled and acked meanwhile, and run in order after.
    let scheduler = JobScheduler(executor: BlockingPool.executor, held: true)
    let executor: JobExecutor
    let metrics = AgentMetrics()
    /// Every job taken from the broker until it is answered (`<pid-dir>/.jobs`): a delivery is acked once it is here.
    let journal: JobJournal
    /// Deliveries waiting, unacked, for room in the journal (`maxPendingJobs`).
    let overflow = Locked<[AMQPDelivery]>([])
    /// What the last agent took and did not finish, read at init (before any delivery), resumed by `run`.
    let unfinished: Locked<[JobJournal.Entry]>
    /// Called when an AMQP I/O thread is wedged; the command line exits there (crash-only).
    let onIOStall: @Sendable () -> Void

    /// Takes the PID-directory lock: a second agent on the same directory refuses to start.
    /// `onIOStall` runs when an AMQP I/O thread is wedged in a rabbitmq-c call: it should exit the process.
    package init(
        configuration: AgentConfiguration, logger: Logger, onIOStall: @escaping @Sendable () -> Void
    ) throws(AgentError) {
        self.configuration = configuration
        self.onIOStall = onIOStall
        var logger = logger
        logger[metadataKey: LogKey.nodeID] = "\(configuration.nodeID)"
        self.logger = logger
        // Every blocking wait runs on a thread of the blocking pool; without a cap glibc gives each its own malloc
        // arena and the resident size of a long-running agent creeps up.
        Memory.limitMallocArenas(2)
        do {
            manager = try S3VaultFuseManager(configuration: configuration.vaultFuse, logger: logger)
        } catch {
            throw AgentError(error.code == .lockHeld ? .pidDirectoryLocked : .pidDirectoryUnusable, error.message)
        }
        journal = try JobJournal(pidDirectory: configuration.vaultFuse.pidDirectory)
        unfinished = Locked(journal.recover())
        let gate = DeliveryGate()
        deliveryGate = gate
        var consumerConfig = configuration.amqp
        consumerConfig.connectionName = "dms-agent@\(configuration.nodeID)"
        consumer = AMQPClient(
            configuration: consumerConfig, topology: configuration.consumerTopology,
            consumer: AMQPConsumerOptions(queue: configuration.requestQueue, prefetch: configuration.workers),
            publishes: false, logger: logger, onDelivery: { gate.receive($0) })
        var publisherConfig = configuration.amqp
        publisherConfig.connectionName = "dms-agent@\(configuration.nodeID)/publish"
        publisher = AMQPClient(
            configuration: publisherConfig, topology: configuration.publisherTopology, logger: logger)
        var options = JobExecutor.Options(nodeID: configuration.nodeID)
        options.maxRequestAge = configuration.maxRequestAge
        options.s3EnvFile = configuration.s3EnvFile
        executor = JobExecutor(
            options: options, targets: manager,
            directories: MountBaseDirectories(bases: configuration.vaultFuse.mountBases),
            secrets: BarbicanClient(
                timeout: configuration.barbicanTimeout, verifyTLS: configuration.barbicanVerifyTLS,
                caBundle: configuration.barbicanCABundle),
            nfs: NFSMounter(commandPrefix: configuration.nfsCommandPrefix, timeout: configuration.nfsTimeout),
            requesters: ReplyQueueCheck(consumer: consumer, logger: logger))
    }

    /// Broker connected and consuming (`/readyz`).
    package var isReady: Bool { notReadyReason == nil }

    /// Why `/readyz` answers 503: the refusal or outage of the consuming or the publishing connection, in the
    /// broker's words, or start-up; nil when ready.
    package var notReadyReason: String? {
        if publisher.isBlocked {
            return "the broker blocks publishing (memory or disk alarm): replies and events are held"
        }
        if let age = pendingReplies.oldestAge, age > configuration.amqp.publishTimeout.seconds {
            return "a reply has waited \(Int(age)) s for the broker's confirm (\(pendingReplies.count) waiting)"
        }
        if consumer.isConnected && consuming.withLock({ $0 }) { return nil }
        if let error = consumer.lastError { return "not consuming \(configuration.requestQueue): \(error.message)" }
        if let error = publisher.lastError { return "cannot publish (replies, events): \(error.message)" }
        return "not consuming \(configuration.requestQueue) yet (starting or recovering)"
    }
    /// The process is up and holds the PID-directory lock (`/healthz`).
    package var isHealthy: Bool { manager.holdsLock }
    let consuming = Locked(false)
    let pendingReplies = InFlightTracker()
    /// Deliveries go from the consuming connection's I/O thread to `dispatch`, once the agent serves.
    let deliveryGate: DeliveryGate

    /// Updates the gauges; call right before exporting metrics.
    package func refreshMetrics() {
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
    package var services: [any Service] {
        [
            ManagerService(manager: manager), AMQPConnectionService(client: publisher, role: "publisher"),
            AMQPConnectionService(client: consumer, role: "consumer"), self, Heartbeat(agent: self),
        ]
    }

    package func run() async throws {
        // Observed before recovery, so adoptions and cleanups at start are published too. Each event is queued for
        // the publisher on the thread that emits it: no task wakes per event.
        let observation = manager.observeEvents { event in
            self.metrics.event(event)
            self.publish(event)
        }
        defer { manager.stopObservingEvents(observation) }
        await withTaskGroup(of: Void.self) { background in
            background.addTask { await self.watchForStalls() }
            await serve(background: &background)
            background.cancelAll()
        }
        logger.info("stopped; every s3vaultfuse keeps running")
    }

    /// Recover, then consume once the consuming connection is up (deliveries that arrive meanwhile wait), drain
    /// within the grace period on graceful shutdown, say goodbye. The connections are services of their own.
    private func serve(background: inout TaskGroup<Void>) async {
        // The last agent's unfinished jobs are queued first, then every delivery is journaled, acked and queued behind
        // them as it arrives; none runs before the manager has recovered and the suspects have run alone.
        let suspects = resumeJournal(
            unfinished.withLock { u in
                defer { u = [] }
                return u
            })
        deliveryGate.open { self.dispatch($0) }
        let report = await manager.recover()
        await runAlone(suspects)
        scheduler.release()
        // Events never delay consuming: node.started goes out once the publisher is connected.
        let started = StatusEvent(
            event: .nodeStarted, nodeID: configuration.nodeID,
            detail:
                "recovered loaded=\(report.loaded) cleaned=\(report.cleaned) in \(Double(Int(report.elapsed.seconds * 1000)) / 1000) s",
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
            "consuming",
            metadata: [LogKey.queue: "\(configuration.requestQueue)", LogKey.workers: "\(configuration.workers)"])
        await withGracefulShutdownHandler {
            // The gate takes every delivery; the stream only finishes, when consuming stops.
            for await _ in consumer.deliveries {}
        } onGracefulShutdown: {
            self.consumer.requestStopConsuming()
        }
        deliveryGate.close()
        consuming.withLock { $0 = false }
        logger.info("stopping: waiting for in-flight jobs", metadata: [LogKey.inFlight: "\(scheduler.inFlight)"])
        if await !scheduler.waitUntilIdle(within: configuration.shutdownGrace) {
            logger.warning("shutdown grace period over; the next start resumes the unfinished jobs from the journal")
            journal.interruptRunning()
        }
        if publisher.isConnected {
            await publishEvent(
                StatusEvent(event: .nodeStopping, nodeID: configuration.nodeID, stats: await manager.stats())
            )
        }
    }

    /// Waits until `client` is connected; false when the agent is asked to stop (or cancelled) first.
    private static func untilConnected(_ client: AMQPClient) async -> Bool {
        do {
            try await cancelWhenGracefulShutdown { try await client.untilConnected() }
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
            let stall = max(consumer.ioStall, publisher.ioStall)
            if stall > .zero {
                logger.critical(
                    "AMQP I/O thread blocked; exiting so the supervisor restarts the agent",
                    metadata: [LogKey.overdue: "\(LogValue.duration(stall))"])
                onIOStall()
            }
        }
    }

    /// Publishes `node.heartbeat` with the manager's figures.
    package func publishHeartbeat() async {
        await publishEvent(
            StatusEvent(event: .nodeHeartbeat, nodeID: configuration.nodeID, stats: await manager.stats()))
    }
}
