import AMQP
public import DMSWire
public import FoundationEssentials
import LinuxSupport

/// Sends jobs to nodes' agents as the orchestrator does and collects each reply by its correlation id: one
/// connection, one reply queue, exclusive to it as the original client's.
///
/// Scoped: `withDMSClient(url:) { client in … }` connects, runs the body and closes. As a service: `run()` connects
/// and returns when its task is cancelled (in a ServiceGroup: `cancelWhenGracefulShutdown { try await client.run() }`).
public final class DMSClient: Sendable {
    /// The queue replies come back on: a fresh name per client.
    public let replyQueue: String
    private let ownsDurableQueue: Bool
    let client: AMQPClient
    private let connectTimeout: Duration
    private let state: Locked<State>
    /// The tests' view of every reply in arrival order (called on the I/O thread).
    private let onReply: (@Sendable (_ correlationID: String, _ body: [UInt8]) -> Void)?

    private struct State {
        var table: ReplyTable<CheckedContinuation<[UInt8], Error>>
        var nextToken: UInt64 = 0
        var started = false
    }

    /// Where replies come back: the client's own queue, exclusive and auto-deleted as the original client's; tests
    /// use a durable one that outlives a broker restart.
    package enum ReplyQueue: Sendable {
        case exclusive
        case durable(quorum: Bool)
    }

    /// - Parameters:
    ///   - publishTimeout: how long `send` waits for the broker to confirm a request.
    ///   - connectTimeout: how long `run` and `withDMSClient` wait for the first connection.
    ///   - unclaimedReplies: how many replies nobody waits for are kept (the oldest are dropped first).
    public convenience init(
        url: String, name: String = "dms-client", publishTimeout: Duration = .seconds(60),
        connectTimeout: Duration = .seconds(15), unclaimedReplies: Int = 1024
    ) throws(DMSClientError) {
        try self.init(
            url: url, name: name, replyQueue: .exclusive, publishTimeout: publishTimeout,
            connectTimeout: connectTimeout, unclaimedReplies: unclaimedReplies)
    }

    package init(
        url: String, name: String, replyQueue kind: ReplyQueue, publishTimeout: Duration = .seconds(60),
        connectTimeout: Duration = .seconds(15), reconnectDelay: Duration? = nil, unclaimedReplies: Int = 1024,
        onReply: (@Sendable (_ correlationID: String, _ body: [UInt8]) -> Void)? = nil
    ) throws(DMSClientError) {
        var config: AMQPConfiguration
        do { config = try AMQPConfiguration(url: url) } catch {
            throw DMSClientError(.invalidURL, "\(error)")
        }
        config.connectionName = name
        config.publishTimeout = publishTimeout
        if let reconnectDelay {
            config.reconnectInitialDelay = reconnectDelay
            config.reconnectMaxDelay = max(.seconds(1), reconnectDelay)
        }
        let replyQueue = "dms.reply.\(UUID().uuidString.prefix(13).lowercased())"
        let queue: AMQPTopology.Queue
        switch kind {
        case .exclusive: queue = .init(name: replyQueue, durable: false, exclusive: true, autoDelete: true)
        case .durable(let quorum):
            queue = .init(
                name: replyQueue, durable: true, arguments: quorum ? ["x-queue-type": .string("quorum")] : [:])
        }
        let state = Locked(State(table: ReplyTable(capacity: max(1, unclaimedReplies))))
        if case .durable = kind { ownsDurableQueue = true } else { ownsDurableQueue = false }
        self.replyQueue = replyQueue
        self.connectTimeout = connectTimeout
        self.state = state
        self.onReply = onReply
        // Replies are taken on the I/O thread: no task, no hop per reply.
        let box = ClientBox()
        client = AMQPClient(
            configuration: config, topology: .init(queues: [queue]), consumer: .init(queue: replyQueue, prefetch: 200),
            onDelivery: { delivery in box.client?.arrived(delivery) })
        box.client = self
    }

    /// Connects, declares the reply queue and consumes it; returns when the task is cancelled, then closes.
    public func run() async throws {
        try await start()
        // Parks until cancelled (an AsyncStream's iteration ends then): the I/O thread delivers the replies.
        let (parked, keepOpen) = AsyncStream.makeStream(of: Never.self)
        for await _ in parked {}
        keepOpen.finish()
        await close()
    }

    /// Connects and consumes the reply queue. Throws when no broker answered within `connectTimeout`.
    package func start() async throws {
        state.withLock { $0.started = true }
        do {
            try await client.start(timeout: connectTimeout)
        } catch {
            await close()
            throw error
        }
    }

    /// Closes the connection; callers still waiting for a reply get `DMSClientError.Code.closed`. A durable reply
    /// queue is the client's own and nobody else's: it stops consuming it and deletes it first (an exclusive one goes
    /// with the connection).
    package func close() async {
        if ownsDurableQueue, client.isConnected {
            await client.stopConsuming()
            try? await client.deleteQueue(replyQueue)
        }
        await client.close()
        for waiter in state.withLock({ $0.table.close() }) {
            waiter.resume(throwing: DMSClientError(.closed, "the client was closed before the reply came"))
        }
    }

    private func arrived(_ delivery: AMQPDelivery) {
        _ = client.queueAck(delivery)
        guard let id = delivery.properties.correlationID else { return }
        onReply?(id, delivery.body)
        for waiter in state.withLock({ $0.table.arrived(id, delivery.body) }) {
            waiter.resume(returning: delivery.body)
        }
    }

    /// Publishes a request to `dms.<node>` (default exchange, or `trilio_dms` by routing key) and returns its
    /// correlation id once the broker confirmed it. `mandatory`: a node without a queue fails with
    /// `DMSClientError.Code.noSuchNode`.
    @discardableResult
    public func send(
        _ body: [UInt8], to node: String, correlationID: String = UUID().uuidString.lowercased(),
        timestamp: UInt64? = UInt64(Date().timeIntervalSince1970), viaExchange: Bool = false, userID: String? = nil,
        mandatory: Bool = false
    ) async throws -> String {
        let usable = state.withLock { $0.started && !$0.table.isClosed }
        guard usable else { throw DMSClientError(.closed, "the client is not running: use withDMSClient or run()") }
        do {
            try await client.publish(
                AMQPOutgoingMessage(
                    exchange: viaExchange ? "trilio_dms" : "", routingKey: "dms.\(node)", body: body,
                    properties: AMQPProperties(
                        contentType: "application/json", correlationID: correlationID, replyTo: replyQueue,
                        timestamp: timestamp, persistent: true, userID: userID),
                    mandatory: mandatory))
        } catch let error as AMQPError where error.code == .unroutable {
            throw DMSClientError(
                .noSuchNode,
                "node \(node) has no queue dms.\(node): is its agent installed and running with this node id?")
        }
        return correlationID
    }

    /// The reply to `correlationID`, waiting up to `timeout`; nil when none came. Taking it removes it: a second
    /// call waits for another. Several callers waiting at once each get it. Throws `CancellationError` when the task
    /// is cancelled and `DMSClientError.Code.closed` when the client closes first.
    public func reply(_ correlationID: String, timeout: Duration) async throws -> [UInt8]? {
        let token = state.withLock { s -> UInt64 in
            s.nextToken += 1
            return s.nextToken
        }
        return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            group.addTask { try await self.waitForReply(correlationID, token: token) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            let first = try await group.next()!
            if first == nil, let waiter = state.withLock({ $0.table.giveUp(correlationID, token: token) }) {
                waiter.resume(throwing: CancellationError())
            }
            return first
        }
    }

    private func waitForReply(_ id: String, token: UInt64) async throws -> [UInt8] {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8], Error>) in
                let found = state.withLock { $0.table.wait(id, token: token, continuation) }
                switch found {
                case .arrived(let body): continuation.resume(returning: body)
                case .closed:
                    continuation.resume(throwing: DMSClientError(.closed, "the client is closed"))
                case .waiting:
                    // Cancelled before the waiter was registered: the handler found nothing to resume.
                    if Task.isCancelled, let waiter = state.withLock({ $0.table.giveUp(id, token: token) }) {
                        waiter.resume(throwing: CancellationError())
                    }
                }
            }
        } onCancel: {
            state.withLock { $0.table.giveUp(id, token: token) }?.resume(throwing: CancellationError())
        }
    }

    /// Send, then wait for the reply.
    public func call(_ body: [UInt8], to node: String, timeout: Duration) async throws -> [UInt8]? {
        try await reply(try await send(body, to: node), timeout: timeout)
    }

    /// Send `request`, then wait for its reply, decoded; nil when none came within `timeout`.
    public func call(_ request: JobRequest, timeout: Duration, mandatory: Bool = false) async throws -> JobReply? {
        let id = try await send(request.encoded, to: request.host, mandatory: mandatory)
        return try await reply(id, timeout: timeout).map(JobReply.decode)
    }
}

/// Connects a client, runs `body` with it and closes it (also when `body` throws or the task is cancelled).
public func withDMSClient<Result>(
    url: String, name: String = "dms-client", publishTimeout: Duration = .seconds(60),
    connectTimeout: Duration = .seconds(15), _ body: (DMSClient) async throws -> Result
) async throws -> Result {
    let client = try DMSClient(url: url, name: name, publishTimeout: publishTimeout, connectTimeout: connectTimeout)
    try await client.start()
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}

/// The AMQP client's delivery callback reaches the DMSClient that owns it: written once in `init`, before `start`
/// creates the I/O thread that reads it (thread creation orders the write before every read), so no lock is needed.
private final class ClientBox: @unchecked Sendable {
    weak var client: DMSClient?
}
