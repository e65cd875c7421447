import CRabbitMQ

/// Read-only looks at a broker for `dms-agent doctor`: one connection per call, passive declares only (an
/// equivalence probe is made only for a queue that exists, where it changes nothing).
package enum AMQPInspector {
    package struct QueueState: Sendable, Equatable {
        package var messages: Int
        package var consumers: Int
        /// nil when the queue's properties equal `expected`, else the broker's words.
        package var difference: String?
    }

    /// Connects to one endpoint and logs in; throws the broker's refusal (403 login, 530 vhost, TLS).
    package static func login(_ config: AMQPConfiguration, endpoint: AMQPConfiguration.Endpoint) throws(AMQPError) {
        try Connector.open(config, endpoint: endpoint).close(openChannels: [])
    }

    /// The queue's depth and consumers, and whether it was declared like `expected`; nil when it does not exist.
    package static func queue(_ config: AMQPConfiguration, _ expected: AMQPTopology.Queue) throws(AMQPError)
        -> QueueState?
    {
        try withProbe(config) { probe throws(AMQPError) -> QueueState? in
            guard let (messages, consumers) = try probe.look(at: expected.name) else { return nil }
            return QueueState(messages: messages, consumers: consumers, difference: try probe.difference(expected))
        }
    }

    /// Whether an exchange exists (a passive declare).
    package static func exchangeExists(_ config: AMQPConfiguration, _ name: String) throws(AMQPError) -> Bool {
        try withProbe(config) { probe throws(AMQPError) -> Bool in
            let arena = CArena()
            amqp_exchange_declare(
                probe.conn, TopologyProbe.channel, arena.bytes(name), arena.bytes("topic"), 1, 0, 0, 0, amqp_empty_table
            )
            let reply = amqp_get_rpc_reply(probe.conn)
            if reply.reply_type == AMQP_RESPONSE_NORMAL { return true }
            let error = Connector.error(reply, "passive declare of exchange \(name.debugDescription)")
            if error.replyCode == 404 { return false }
            throw error
        }
    }

    /// The first endpoint that answers, its probe channel open; closed after `body`.
    private static func withProbe<T>(_ config: AMQPConfiguration, _ body: (TopologyProbe) throws(AMQPError) -> T)
        throws(AMQPError) -> T
    {
        var lastError = AMQPError(.configuration, "no broker host configured")
        for endpoint in config.endpoints {
            let conn: RabbitMQConnection
            do { conn = try Connector.open(config, endpoint: endpoint) } catch {
                lastError = error
                continue
            }
            defer { conn.close(openChannels: [TopologyProbe.channel]) }
            let probe = TopologyProbe(conn: conn.state)
            try probe.open()
            return try body(probe)
        }
        throw lastError
    }
}
