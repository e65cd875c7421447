import AMQP
import DMSWire
import FoundationEssentials
import LinuxSupport

/// Sends jobs to nodes' agents as the orchestrator does and collects each reply by its correlation id: one
/// connection, one reply queue. `dms-agent submit`, the benchmark and the tests use it.
public final class DMSClient: Sendable {
    public enum ReplyQueue: Sendable {
        /// Exclusive and auto-deleted, as the original client's: it dies with the connection.
        case exclusive
        /// Durable, surviving reconnects; `quorum` also the loss of a cluster node.
        case durable(quorum: Bool)
    }

    public let replyQueue: String
    let client: AMQPClient
    private let state = Locked(State())

    private struct State {
        var replies: [String: [UInt8]] = [:]
        var order: [String] = []
        var waiters: [String: CheckedContinuation<[UInt8]?, Never>] = [:]
    }

    public init(
        url: String, name: String = "dms-client", replyQueue kind: ReplyQueue = .exclusive, publishTimeout: Double = 60,
        reconnectDelay: Double? = nil
    ) throws(DMSClientError) {
        var config: AMQPConfiguration
        do { config = try AMQPConfiguration(url: url) } catch {
            throw DMSClientError(.invalidURL, "\(error)")
        }
        config.connectionName = name
        config.publishTimeout = .seconds(publishTimeout)
        if let reconnectDelay {
            config.reconnectInitialDelay = .seconds(reconnectDelay)
            config.reconnectMaxDelay = .seconds(max(1, reconnectDelay))
        }
        replyQueue = "dms.reply.\(UUID().uuidString.prefix(13).lowercased())"
        let queue: AMQPTopology.Queue
        switch kind {
        case .exclusive: queue = .init(name: replyQueue, durable: false, exclusive: true, autoDelete: true)
        case .durable(let quorum):
            queue = .init(
                name: replyQueue, durable: true, arguments: quorum ? ["x-queue-type": .string("quorum")] : [:])
        }
        client = AMQPClient(
            configuration: config, topology: .init(queues: [queue]), consumer: .init(queue: replyQueue, prefetch: 200))
    }

    /// Connects, declares the reply queue and consumes it.
    public func start(timeout: Double = 15) async throws {
        try await client.start(timeout: timeout)
        let client = self.client
        Task {
            for await delivery in client.deliveries {
                if let id = delivery.properties.correlationID { self.arrived(id, delivery.body) }
                await client.ack(delivery)
            }
        }
    }

    private func arrived(_ id: String, _ body: [UInt8]) {
        let waiter = state.withLock { s in
            s.replies[id] = body
            s.order.append(id)
            return s.waiters.removeValue(forKey: id)
        }
        waiter?.resume(returning: body)
    }

    /// Publishes a request to `dms.<node>` (default exchange, or `trilio_dms` by routing key) and returns its
    /// correlation id. `mandatory`: a node without a queue fails with `DMSClientError.Code.noSuchNode`.
    @discardableResult
    public func send(
        _ body: [UInt8], to node: String, correlationID: String = UUID().uuidString.lowercased(),
        timestamp: UInt64? = UInt64(Date().timeIntervalSince1970), viaExchange: Bool = false, userID: String? = nil,
        mandatory: Bool = false
    ) async throws -> String {
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

    /// The reply to `correlationID`, waiting up to `timeout` seconds; nil when none came.
    public func reply(_ correlationID: String, timeout: Double) async -> [UInt8]? {
        let timer = Task {
            try? await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
            self.state.withLock { $0.waiters.removeValue(forKey: correlationID) }?.resume(returning: nil)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { (continuation: CheckedContinuation<[UInt8]?, Never>) in
            let ready = state.withLock { s -> [UInt8]?? in
                if let body = s.replies[correlationID] { return .some(body) }
                s.waiters[correlationID] = continuation
                return .none
            }
            if case .some(let body) = ready { continuation.resume(returning: body) }
        }
    }

    /// The reply to `correlationID` if it has arrived, without waiting.
    public func arrivedReply(_ correlationID: String) -> [UInt8]? { state.withLock { $0.replies[correlationID] } }

    /// Correlation ids in the order their replies arrived.
    public var arrivalOrder: [String] { state.withLock { $0.order } }

    /// Send, then wait for the reply.
    public func call(_ body: [UInt8], to node: String, timeout: Double) async throws -> [UInt8]? {
        await reply(try await send(body, to: node), timeout: timeout)
    }

    /// Send `request`, then wait for its reply, decoded; nil when none came within `timeout`.
    public func call(_ request: JobRequest, timeout: Double, mandatory: Bool = false) async throws -> JobReply? {
        let id = try await send(request.encoded, to: request.host, mandatory: mandatory)
        return try await reply(id, timeout: timeout).map(JobReply.decode)
    }

    public func close() async { await client.close() }
}
