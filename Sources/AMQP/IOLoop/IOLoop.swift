import CRabbitMQ
import FoundationEssentials
import Glibc
import LinuxSupport
import Logging
import Synchronization

let consumeChannel: amqp_channel_t = 1
let publishChannel: amqp_channel_t = 2

/// The I/O thread's state. Nothing here is touched by any other thread: the connection handle of
/// rabbitmq-c is not thread-safe, so it has exactly one owner.
final class IOLoop {
    let client: AMQPClient
    var logger: Logger
    /// The connection, when there is one; releasing it frees it.
    var current: RabbitMQConnection?
    var connection: amqp_connection_state_t? { current?.state }
    /// Publishes not yet sent and sent but not yet confirmed.
    var confirms = ConfirmTracker<AMQPClient.PendingPublish>()
    /// The consume channel's unsettled delivery tags.
    var deliveries = DeliveryLedger()
    /// When and where to connect next.
    var reconnect: ReconnectSchedule
    var random = SystemRandomNumberGenerator()
    /// The probe channel is open on the current connection (opened at the first `inspectQueue`, then kept).
    var probeOpen = false
    var consumerWanted: Bool
    var consumerTag: String?
    var generation: UInt64 = 0
    var closing: CheckedContinuation<Void, Never>?
    var everConnected = false
    var lastTopologyRefusal: String?
    var loggedTopology = false
    var stopped = false

    /// The channels set-up opened on the current connection.
    var setUpChannels: [amqp_channel_t] = []
    /// Those, and the probe channel once opened: what a clean close says goodbye to.
    var openChannels: [amqp_channel_t] { setUpChannels + (probeOpen ? [TopologyProbe.channel] : []) }

    init(client: AMQPClient) {
        self.client = client
        self.logger = client.logger
        self.consumerWanted = client.consumerOptions != nil
        let config = client.configuration
        reconnect = ReconnectSchedule(
            initialDelay: config.reconnectInitialDelay, maxDelay: config.reconnectMaxDelay,
            firstAttemptSpread: config.reconnectInitialDelay)
    }

    func run() {
        client.shared.withLock { $0.ioThread = pthread_self() }
        while closing == nil && !stopped {
            // Every blocking step below is bounded by this (connect and RPC timeouts, backoff, poll).
            let config = client.configuration
            let bound =
                config.connectTimeout.seconds * 3 * Double(max(1, config.endpoints.count))
                + config.reconnectMaxDelay.seconds + Double(max(config.heartbeat, 1)) * 2
            client.ioDeadline.store(monotonicNanos() + UInt64(bound * 1e9), ordering: .relaxed)
            if connection == nil {
                connectOnce()
                continue
            }
            drainCommands()
            if connection == nil || closing != nil { continue }
            amqp_maybe_release_buffers(connection)
            pumpIncoming()
            expireDeadlines()
            if connection == nil { continue }
            waitForActivity()
        }
        shutDown()
        client.ioDeadline.store(0, ordering: .relaxed)
    }

    // MARK: Waiting

    func waitForActivity() {
        guard let conn = connection else { return }
        if amqp_frames_enqueued(conn) != 0 || amqp_data_in_buffer(conn) != 0 { return }
        // Queued by this thread while it handled deliveries (acks): no eventfd was written for them.
        if client.shared.withLock({ !$0.commands.isEmpty }) { return }
        let heartbeat = client.configuration.heartbeat
        var timeoutMS: Int32 = heartbeat > 0 ? Int32(min(1000, heartbeat * 1000 / 4)) : 1000
        let now = monotonicNanos()
        if let next = confirms.nextDeadline {
            timeoutMS = max(0, min(timeoutMS, Int32(clamping: (next > now ? next - now : 0) / 1_000_000 + 1)))
        }
        var fds = [
            pollfd(fd: amqp_get_sockfd(conn), events: Int16(POLLIN), revents: 0),
            pollfd(fd: client.wakeFD, events: Int16(POLLIN), revents: 0),
        ]
        _ = poll(&fds, 2, timeoutMS)
    }

    func sleepInterruptibly(for duration: Duration) {
        var fd = pollfd(fd: client.wakeFD, events: Int16(POLLIN), revents: 0)
        _ = poll(&fd, 1, Int32(clamping: duration.milliseconds))
    }

    // MARK: Shutdown

    func shutDown() {
        if let conn = connection {
            if let tag = consumerTag {
                tag.withCString { t in _ = amqp_basic_cancel(conn, consumeChannel, amqp_cstring_bytes(t)) }
                _ = amqp_get_rpc_reply(conn)
            }
            // Give outstanding confirms a brief chance to arrive.
            let end = monotonicNanos() + 2_000_000_000
            while !confirms.unconfirmed.isEmpty, connection != nil, monotonicNanos() < end {
                pumpIncoming()
                if let c = connection, amqp_frames_enqueued(c) == 0, amqp_data_in_buffer(c) == 0 {
                    var fds = [pollfd(fd: amqp_get_sockfd(c), events: Int16(POLLIN), revents: 0)]
                    _ = poll(&fds, 1, 50)
                }
            }
            current?.close(openChannels: openChannels)
            current = nil
        }
        let continuation = closing
        let closed = AMQPError(.closed, "The AMQP client is closed")
        let (waiters, whyNeverStarted) = client.shared.withLock { s in
            s.closed = true
            s.connected = false
            defer { s.connectionWaiters = [:] }
            return (Array(s.connectionWaiters.values), s.lastError)
        }
        // A start that never saw a connection learns why (a refused login, say), not only that the client closed.
        for waiter in waiters {
            waiter.continuation.resume(throwing: waiter.isStart ? whyNeverStarted ?? closed : closed)
        }
        failEverything(AMQPError(.closed, "The AMQP client is closed"))
        continuation?.resume()
    }

    func failEverything(_ error: AMQPError) {
        drainCommandsAfterClose(error)
        for publish in confirms.drain() { publish.answer(.failure(error)) }
        client.deliveryContinuation.finish()
    }

    func drainCommandsAfterClose(_ error: AMQPError) {
        let commands = client.shared.withLock { s -> [AMQPClient.Command] in
            defer { s.commands.removeAll() }
            return s.commands
        }
        for command in commands {
            switch command {
            case .publish(let p): p.answer(.failure(error))
            case .settle(_, _, _, let c): c?.resume(returning: .staleDelivery)
            case .cancelConsumer(let c): c?.resume()
            case .close(let c): c.resume()
            case .inspectQueue(_, let c): c.resume(returning: .failure(error))
            case .deleteQueue(_, let c): c.resume(returning: .failure(error))
            }
        }
    }
}
