import CRabbitMQ

/// Read-only looks at a broker for `dms-agent doctor`: one connection per call, passive declares only (an
/// equivalence probe is made only for a queue that exists, where it changes nothing).
public enum AMQPInspector {
    public struct QueueState: Sendable, Equatable {
        public var messages: Int
        public var consumers: Int
        /// nil when the queue's properties equal `expected`, else the broker's words.
        public var difference: String?
    }

    /// Connects to one endpoint and logs in; throws the broker's refusal (403 login, 530 vhost, TLS).
    public static func login(_ config: AMQPConfiguration, endpoint: AMQPConfiguration.Endpoint) throws(AMQPError) {
        let conn = try Connector.open(config, endpoint: endpoint)
        Connector.destroy(conn, graceful: true)
    }

    /// The queue's depth and consumers, and whether it was declared like `expected`; nil when it does not exist.
    public static func queue(_ config: AMQPConfiguration, _ expected: AMQPTopology.Queue) throws(AMQPError) -> QueueState? {
        try withProbe(config) { conn throws(AMQPError) -> QueueState? in
            let arena = CArena()
            let ok = amqp_queue_declare(conn, TopologyProbe.channel, arena.bytes(expected.name), 1, 0, 0, 0, amqp_empty_table)
            let reply = amqp_get_rpc_reply(conn)
            if reply.reply_type != AMQP_RESPONSE_NORMAL {
                let error = Connector.error(reply, "passive declare of queue \(expected.name.debugDescription)")
                if error.replyCode == 404 { return nil }
                throw error
            }
            var state = QueueState(messages: Int(ok?.pointee.message_count ?? 0), consumers: Int(ok?.pointee.consumer_count ?? 0))
            amqp_queue_declare(conn, TopologyProbe.channel, arena.bytes(expected.name), 0, expected.durable ? 1 : 0, 0, 0,
                               arena.table(expected.arguments))
            let probe = amqp_get_rpc_reply(conn)
            if probe.reply_type != AMQP_RESPONSE_NORMAL { state.difference = Connector.brokerText(probe) ?? "refused" }
            return state
        }
    }

    /// Whether an exchange exists (a passive declare).
    public static func exchangeExists(_ config: AMQPConfiguration, _ name: String) throws(AMQPError) -> Bool {
        try withProbe(config) { conn throws(AMQPError) -> Bool in
            let arena = CArena()
            amqp_exchange_declare(conn, TopologyProbe.channel, arena.bytes(name), arena.bytes("topic"), 1, 0, 0, 0, amqp_empty_table)
            let reply = amqp_get_rpc_reply(conn)
            if reply.reply_type == AMQP_RESPONSE_NORMAL { return true }
            let error = Connector.error(reply, "passive declare of exchange \(name.debugDescription)")
            if error.replyCode == 404 { return false }
            throw error
        }
    }

    private static func withProbe<T>(_ config: AMQPConfiguration, _ body: (amqp_connection_state_t) throws(AMQPError) -> T) throws(AMQPError) -> T {
        var lastError = AMQPError(.configuration, "no broker host configured")
        for endpoint in config.endpoints {
            let conn: amqp_connection_state_t
            do { conn = try Connector.open(config, endpoint: endpoint) } catch { lastError = error; continue }
            defer { Connector.destroy(conn, graceful: true) }
            try TopologyProbe(conn: conn).open()
            return try body(conn)
        }
        throw lastError
    }
}
