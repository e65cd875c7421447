import CRabbitMQ
import FoundationEssentials
import Glibc
import LinuxSupport
package import Logging
import Synchronization

/// A RabbitMQ client over rabbitmq-c: one dedicated I/O thread owns the connection and services the
/// socket continuously (so heartbeats flow while handlers run for minutes); every other task talks to it
/// through a command queue. It reconnects by itself, declares the topology again and resumes consuming.
package final class AMQPClient: Sendable {
    package let configuration: AMQPConfiguration
    package let topology: AMQPTopology
    package let consumerOptions: AMQPConsumerOptions?
    /// Whether this client publishes: only then is the publish channel opened (in confirm mode).
    package let publishes: Bool
    /// Every delivery of the consumer, across reconnects, unless `onDelivery` takes them. Finishes after
    /// `stopConsuming` or `close`.
    package let deliveries: AsyncStream<AMQPDelivery>
    /// Called on the I/O thread with each delivery instead of `deliveries`; must not block.
    let onDelivery: (@Sendable (AMQPDelivery) -> Void)?

    let logger: Logger
    let shared = Locked(Shared())
    let wakeFD: Int32
    let deliveryContinuation: AsyncStream<AMQPDelivery>.Continuation
    /// Monotonic ns by which the I/O thread promised to come round again (refreshed every turn).
    let ioDeadline = Atomic<UInt64>(0)

    struct Shared {
        var commands: [Command] = []
        var connected = false
        var generation: UInt64 = 0
        var reconnects = 0
        var consumeChannelReopens = 0
        var started = false
        var closed = false
        /// Callers of `start` and `untilConnected`, resumed by the I/O thread when a connection is up or the client
        /// closes (and a start also on a fatal error).
        var connectionWaiters: [UInt64: ConnectionWaiter] = [:]
        var nextWaiter: UInt64 = 0
        var lastError: AMQPError?
        var topology: AMQPTopologyReport?
        var blocked = false
        /// The I/O thread has been woken and not yet drained: no need to write the eventfd again.
        var wakePending = false
        /// The I/O thread: a command it queues itself (an ack from `onDelivery`) needs no wake-up, as the loop looks
        /// for commands before it waits.
        var ioThread: pthread_t?
    }

    struct ConnectionWaiter {
        let continuation: CheckedContinuation<Void, Error>
        /// `start`'s waiter: settled by any connection made so far, and failed by a fatal error too.
        let isStart: Bool
    }

    enum Command {
        case publish(PendingPublish)
        case settle(tag: UInt64, generation: UInt64, kind: SettleKind, CheckedContinuation<SettleOutcome, Never>?)
        case cancelConsumer(CheckedContinuation<Void, Never>?)
        case close(CheckedContinuation<Void, Never>)
        case inspectQueue(String, CheckedContinuation<Result<QueueLook, AMQPError>, Never>)
        case deleteQueue(String, CheckedContinuation<Result<Void, AMQPError>, Never>)
    }

    enum SettleKind {
        case ack
        case nack(requeue: Bool)
        case reject(requeue: Bool)
    }

    final class PendingPublish: ConfirmablePublish, @unchecked Sendable {
        // Touched only by the I/O thread after it is enqueued.
        let message: AMQPOutgoingMessage
        let deadline: UInt64
        private let onAnswer: @Sendable (Result<Void, Error>) -> Void
        var returned: (code: Int, text: String)?
        /// The caller has its answer (a publish can time out and still be confirmed or republished later).
        private(set) var answered = false

        init(
            message: AMQPOutgoingMessage, deadline: UInt64, onAnswer: @escaping @Sendable (Result<Void, Error>) -> Void
        ) {
            self.message = message
            self.deadline = deadline
            self.onAnswer = onAnswer
        }

        /// Answers the caller once; later answers are ignored.
        func answer(_ result: Result<Void, Error>) {
            guard !answered else { return }
            answered = true
            onAnswer(result)
        }
    }

    /// `onDelivery`, when given, takes every delivery on the I/O thread (it must not block: hand the work on) and
    /// `deliveries` only finishes; a consumer that just queues each message saves a task wake-up per message.
    /// Each channel is opened for a reason: the consume channel with a `consumer`, the publish channel when
    /// `publishes`, the probe channel for the set-up (closed after it) and again at the first `queueExists`.
    package init(
        configuration: AMQPConfiguration, topology: AMQPTopology = .init(), consumer: AMQPConsumerOptions? = nil,
        publishes: Bool = true, logger: Logger = Logger(label: "dms.amqp"),
        onDelivery: (@Sendable (AMQPDelivery) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.topology = topology
        self.consumerOptions = consumer
        self.publishes = publishes
        self.onDelivery = onDelivery
        var logger = logger
        logger[metadataKey: LogKey.amqpConnection] = "\(configuration.connectionName)"
        self.logger = logger
        self.wakeFD = crmq_wake_fd()
        (deliveries, deliveryContinuation) = AsyncStream.makeStream(of: AMQPDelivery.self)
    }

    deinit { Glibc.close(wakeFD) }

    // MARK: Public API

    /// Starts the I/O thread and returns once the first connection is up and the topology declared.
    /// Throws at once on a fatal error (a refused declare) and after `timeout` if no broker answered;
    /// the client then keeps retrying in the background until `close`.
    package func start(timeout: Duration? = nil) async throws {
        let alreadyStarted = shared.withLock { s -> Bool in
            defer { s.started = true }
            return s.started
        }
        precondition(!alreadyStarted, "AMQPClient.start called twice")
        OSThread.detach(name: "amqp.io", stackSize: 1 << 20) { [self] in IOLoop(client: self).run() }
        guard let timeout else { return try await untilStarted() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.untilStarted() }
            group.addTask {
                try await Task.sleep(for: timeout)
                let last = self.shared.withLock { $0.lastError }
                throw AMQPError(
                    .timeout, "No broker answered within \(timeout)\(last.map { ": \($0)" } ?? "")")
            }
            // The first to finish decides; the other is cancelled (a waiting start resumes with CancellationError).
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Until the first connection is up and the topology declared; throws a fatal error (a refused declare) at once.
    private func untilStarted() async throws { try await untilConnection(isStart: true) }

    /// Returns once the client is connected (at once when it is); throws when it closes or the task is cancelled.
    /// No polling: the I/O thread resumes the waiters when a connection comes up.
    package func untilConnected() async throws { try await untilConnection(isStart: false) }

    private func untilConnection(isStart: Bool) async throws {
        let id = shared.withLock { s -> UInt64 in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                let settled = shared.withLock { s -> Result<Void, Error>? in
                    if s.connected || (isStart && s.generation > 0) { return .success(()) }
                    if s.closed {
                        let closed = AMQPError(.closed, "The AMQP client is closed")
                        return .failure(isStart ? (s.lastError ?? closed) : closed)
                    }
                    s.connectionWaiters[id] = ConnectionWaiter(continuation: continuation, isStart: isStart)
                    return nil
                }
                if let settled { return continuation.resume(with: settled) }
                // Cancelled before the waiter was stored: the cancellation handler found nothing to resume.
                if Task.isCancelled { takeConnectionWaiter(id)?.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            takeConnectionWaiter(id)?.resume(throwing: CancellationError())
        }
    }

    private func takeConnectionWaiter(_ id: UInt64) -> CheckedContinuation<Void, Error>? {
        shared.withLock { $0.connectionWaiters.removeValue(forKey: id) }?.continuation
    }

    /// Publishes and returns once the broker has confirmed the message. Throws on a nack, on an
    /// unroutable mandatory message, or when no confirm arrives within `timeout` (default: the
    /// configuration's `publishTimeout`), including while the connection is down.
    /// `.never` waits for the confirm while the client lives: across blocked periods and reconnects, the
    /// message is sent again on the next connection if the last one died before confirming it.
    package func publish(_ message: AMQPOutgoingMessage, timeout: PublishTimeout = .configured) async throws {
        let deadline = publishDeadline(timeout)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            enqueue(.publish(PendingPublish(message: message, deadline: deadline) { continuation.resume(with: $0) }))
        }
    }

    /// Queues `message` without waiting for it, for a sender that must not wait (best-effort status events):
    /// `whenAnswered` runs once with the broker's confirm or the reason there is none, on the I/O thread (here when
    /// the client is closed). It must not block.
    package func publish(
        _ message: AMQPOutgoingMessage, timeout: PublishTimeout = .configured,
        whenAnswered: @escaping @Sendable (Result<Void, Error>) -> Void
    ) {
        enqueue(.publish(PendingPublish(message: message, deadline: publishDeadline(timeout), onAnswer: whenAnswered)))
    }

    /// How long a publish waits for its confirm.
    package enum PublishTimeout: Sendable {
        /// The configuration's `publishTimeout`.
        case configured
        case after(Duration)
        /// While the client lives.
        case never
    }

    private func publishDeadline(_ timeout: PublishTimeout) -> UInt64 {
        switch timeout {
        case .configured: return Deadline(after: configuration.publishTimeout).nanos
        case .after(let duration): return Deadline(after: duration).nanos
        case .never: return UInt64.max
        }
    }

    @discardableResult
    package func ack(_ delivery: AMQPDelivery) async -> SettleOutcome { await settle(delivery, .ack) }

    @discardableResult
    package func nack(_ delivery: AMQPDelivery, requeue: Bool) async -> SettleOutcome {
        await settle(delivery, .nack(requeue: requeue))
    }

    /// Without requeue the broker dead-letters the message (when the queue has a dead-letter exchange).
    @discardableResult
    package func reject(_ delivery: AMQPDelivery, requeue: Bool) async -> SettleOutcome {
        await settle(delivery, .reject(requeue: requeue))
    }

    /// `ack` for a caller that must not suspend (a consumer's `onDelivery`, on the I/O thread itself).
    package func queueAck(_ delivery: AMQPDelivery) -> SettleOutcome { settleNow(delivery, .ack) }

    private func settle(_ delivery: AMQPDelivery, _ kind: SettleKind) async -> SettleOutcome {
        settleNow(delivery, kind)
    }

    /// Queues the settlement for the I/O thread without waiting for it: a delivery of the current
    /// connection and consume channel is `.settled` (should either close before the frame leaves, the broker
    /// redelivers, exactly as for any unacked message); one of an earlier one is `.staleDelivery`.
    private func settleNow(_ delivery: AMQPDelivery, _ kind: SettleKind) -> SettleOutcome {
        let current = shared.withLock { $0.connected && $0.generation == delivery.generation && !$0.closed }
        guard current else { return .staleDelivery }
        enqueue(.settle(tag: delivery.deliveryTag, generation: delivery.generation, kind: kind, nil))
        return .settled
    }

    /// Asks the I/O thread to cancel the consumer, without waiting (from a synchronous handler, such as a graceful
    /// shutdown's): `deliveries` finishes once it has.
    package func requestStopConsuming() { enqueue(.cancelConsumer(nil)) }

    /// Cancels the consumer (no new deliveries; unacked ones can still be settled) and finishes `deliveries`.
    package func stopConsuming() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            enqueue(.cancelConsumer(continuation))
        }
    }

    /// Closes channel and connection cleanly and stops the I/O thread. Pending publishes fail with `.closed`.
    package func close() async {
        let running = shared.withLock { $0.started && !$0.closed }
        guard running else {
            deliveryContinuation.finish()
            return
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            enqueue(.close(continuation))
        }
    }

    /// What a passive declare on the probe channel says of a queue.
    package enum QueueLook: Sendable, Equatable {
        case missing
        /// Exclusive to another connection: it exists, and nothing more is said.
        case exclusiveElsewhere
        /// Ready messages (not those delivered and unacked) and consumers.
        case present(messages: Int, consumers: Int)
    }

    /// A passive declare of `name` on the probe channel of the current connection. Throws when not connected.
    package func inspectQueue(_ name: String) async throws(AMQPError) -> QueueLook {
        let result = await withCheckedContinuation {
            (continuation: CheckedContinuation<Result<QueueLook, AMQPError>, Never>) in
            enqueue(.inspectQueue(name, continuation))
        }
        return try result.get()
    }

    /// Deletes a queue this client owns (a queue that is gone already counts as deleted), on the probe channel of the
    /// current connection. Stop consuming it first: the broker cancels a consumer of a deleted queue. Throws when not
    /// connected or refused.
    package func deleteQueue(_ name: String) async throws(AMQPError) {
        let result = await withCheckedContinuation {
            (continuation: CheckedContinuation<Result<Void, AMQPError>, Never>) in
            enqueue(.deleteQueue(name, continuation))
        }
        try result.get()
    }

    /// Whether a queue exists (a queue exclusive to another connection exists). Throws when not connected.
    package func queueExists(_ name: String) async throws(AMQPError) -> Bool {
        try await inspectQueue(name) != .missing
    }

    package var isConnected: Bool { shared.withLock { $0.connected } }

    /// The broker has blocked this connection's publishes (memory or disk alarm); they wait in the outbox.
    package var isBlocked: Bool { shared.withLock { $0.connected && $0.blocked } }

    /// Why the client is not connected (the last connect, topology or connection error); nil while connected.
    package var lastError: AMQPError? { shared.withLock { $0.connected ? nil : $0.lastError } }

    /// What the broker held at the last connection's set-up.
    package var topologyReport: AMQPTopologyReport? { shared.withLock { $0.topology } }

    /// How long the I/O thread is overdue (0 while it turns normally, or before start / after close).
    /// rabbitmq-c 0.11 can block inside a publish when the broker blocks the TCP connection (#519, #780);
    /// an application that sees this grow past a minute should restart rather than wait forever.
    package var ioStall: Duration {
        let deadline = ioDeadline.load(ordering: .relaxed)
        let running = shared.withLock { $0.started && !$0.closed }
        let now = monotonicNanos()
        guard running, deadline > 0, now > deadline else { return .zero }
        return .nanoseconds(Int64(now - deadline))
    }
    /// Times the broker closed the consume channel and it was reopened on the same connection.
    package var consumeChannelReopenCount: Int { shared.withLock { $0.consumeChannelReopens } }
    /// Connections made after the first one.
    package var reconnectCount: Int { shared.withLock { $0.reconnects } }

    func enqueue(_ command: Command) {
        var needsWake = false
        let rejected = shared.withLock { s -> Bool in
            if s.closed { return true }
            s.commands.append(command)
            if let io = s.ioThread, pthread_equal(io, pthread_self()) != 0 { return false }
            needsWake = !s.wakePending
            s.wakePending = true
            return false
        }
        if rejected {
            switch command {
            case .publish(let p): p.answer(.failure(AMQPError(.closed, "The AMQP client is closed")))
            case .settle(_, _, _, let c): c?.resume(returning: .staleDelivery)
            case .cancelConsumer(let c): c?.resume()
            case .close(let c): c.resume()
            case .inspectQueue(_, let c): c.resume(returning: .failure(AMQPError(.closed, "The AMQP client is closed")))
            case .deleteQueue(_, let c): c.resume(returning: .failure(AMQPError(.closed, "The AMQP client is closed")))
            }
            return
        }
        guard needsWake else { return }
        // The eventfd only wakes the I/O thread: the commands travel under `shared`'s pthread lock, which
        // ThreadSanitizer sees, so the hand-off needs no __tsan_release/__tsan_acquire pair.
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }
}
