import CRabbitMQ

/// Passive-first set-up on a channel of its own, so a refusal (which closes the channel) never disturbs the
/// consume and publish channels. Shared objects are met as they are: an existing exchange or queue is used
/// whatever its arguments; only a missing one (404) is declared, and a 406 on that declare (someone else won
/// the race) leads back to a passive declare.
struct TopologyProbe {
    static let channel: amqp_channel_t = 3
    let conn: amqp_connection_state_t

    /// Opens the probe channel.
    func open() throws(AMQPError) {
        amqp_channel_open(conn, Self.channel)
        try Connector.check(amqp_get_rpc_reply(conn), "channel.open")
    }

    /// Closes the probe channel once the set-up no longer needs it.
    func close() throws(AMQPError) {
        try Connector.check(amqp_channel_close(conn, Self.channel, AMQP_REPLY_SUCCESS), "channel.close")
    }

    func ensure(_ topology: AMQPTopology) throws(AMQPError) -> AMQPTopologyReport {
        var report = AMQPTopologyReport()
        for exchange in topology.exchanges {
            let what =
                "exchange \(exchange.name.debugDescription) (\(exchange.type), \(exchange.durable ? "durable" : "transient"))"
            let origin = try ensure(what) { arena, passive in
                amqp_exchange_declare(
                    conn, Self.channel, arena.bytes(exchange.name), arena.bytes(exchange.type), passive ? 1 : 0,
                    exchange.durable ? 1 : 0, 0, 0, amqp_empty_table)
            }
            report.entries.append(.init(kind: "exchange", name: exchange.name, origin: origin))
        }
        for queue in topology.queues {
            let what = "queue \(queue.name.debugDescription) (\(queue.summary))"
            let declare = { (arena: CArena, passive: Bool) in
                _ = amqp_queue_declare(
                    conn, Self.channel, arena.bytes(queue.name), passive ? 1 : 0, queue.durable ? 1 : 0,
                    queue.exclusive ? 1 : 0, queue.autoDelete ? 1 : 0,
                    passive ? amqp_empty_table : arena.table(queue.arguments))
            }
            let origin: AMQPTopologyReport.Origin
            do { origin = try ensure(what, declare) } catch  where !queue.required && error.code == .topology {
                report.entries.append(
                    .init(kind: "queue", name: queue.name, origin: .unavailable, difference: error.message))
                continue
            }
            let difference = origin == .existed ? try self.difference(queue) : nil
            report.entries.append(.init(kind: "queue", name: queue.name, origin: origin, difference: difference))
        }
        for binding in topology.bindings {
            let arena = CArena()
            amqp_queue_bind(
                conn, Self.channel, arena.bytes(binding.queue), arena.bytes(binding.exchange),
                arena.bytes(binding.routingKey),
                amqp_empty_table)
            let reply = amqp_get_rpc_reply(conn)
            if reply.reply_type != AMQP_RESPONSE_NORMAL {
                let what =
                    "bind queue \(binding.queue.debugDescription) to exchange \(binding.exchange.debugDescription) with key \(binding.routingKey.debugDescription)"
                let error = Connector.error(reply, what)
                try recover(from: reply, error)
                throw Self.explained(
                    error, reply, what: what,
                    fix: "grant write on the queue and read on the exchange, or bind it as the operator")
            }
        }
        return report
    }

    /// A passive declare: the queue's depth and consumers, nil when it does not exist (404).
    func look(at queue: String) throws(AMQPError) -> (messages: Int, consumers: Int)? {
        let arena = CArena()
        let ok = amqp_queue_declare(conn, Self.channel, arena.bytes(queue), 1, 0, 0, 0, amqp_empty_table)
        let reply = amqp_get_rpc_reply(conn)
        if reply.reply_type == AMQP_RESPONSE_NORMAL {
            return (Int(ok?.pointee.message_count ?? 0), Int(ok?.pointee.consumer_count ?? 0))
        }
        let error = Connector.error(reply, "passive declare of queue \(queue.debugDescription)")
        try recover(from: reply, error)
        if error.replyCode == 404 { return nil }
        throw error
    }

    /// queue.delete, unconditionally (if-unused and if-empty off); a queue already gone is not an error (RabbitMQ
    /// answers delete-ok for it).
    func delete(_ queue: String) throws(AMQPError) {
        let arena = CArena()
        amqp_queue_delete(conn, Self.channel, arena.bytes(queue), 0, 0)
        let reply = amqp_get_rpc_reply(conn)
        if reply.reply_type == AMQP_RESPONSE_NORMAL { return }
        let error = Connector.error(reply, "delete of queue \(queue.debugDescription)")
        try recover(from: reply, error)
        throw error
    }

    /// For a queue that exists: nil when it was declared as `queue` says, else the broker's words for the first
    /// difference. Passive declares tell nothing of a queue's type or arguments; the declaration we would make
    /// either passes (and changes nothing) or is refused naming what differs.
    func difference(_ queue: AMQPTopology.Queue) throws(AMQPError) -> String? {
        let arena = CArena()
        amqp_queue_declare(
            conn, Self.channel, arena.bytes(queue.name), 0, queue.durable ? 1 : 0, queue.exclusive ? 1 : 0,
            queue.autoDelete ? 1 : 0, arena.table(queue.arguments))
        let reply = amqp_get_rpc_reply(conn)
        if reply.reply_type == AMQP_RESPONSE_NORMAL { return nil }
        let error = Connector.error(reply, "declare")
        try recover(from: reply, error)
        // 403: no configure permission on it (a queue the operator declared for us): nothing to compare.
        if error.replyCode == 403 { return nil }
        return Connector.brokerText(reply) ?? error.message
    }

    private func ensure(_ what: String, _ declare: (CArena, Bool) -> Void) throws(AMQPError)
        -> AMQPTopologyReport.Origin
    {
        for attempt in 0..<2 {
            let passive = CArena()
            declare(passive, true)
            var reply = amqp_get_rpc_reply(conn)
            if reply.reply_type == AMQP_RESPONSE_NORMAL { return .existed }
            var error = Connector.error(reply, "passive declare of \(what)")
            try recover(from: reply, error)
            guard error.replyCode == 404 else {
                throw Self.explained(
                    error, reply, what: what,
                    fix: "grant the broker user access to it (passive declare needs configure or read)")
            }
            let active = CArena()
            declare(active, false)
            reply = amqp_get_rpc_reply(conn)
            if reply.reply_type == AMQP_RESPONSE_NORMAL { return .declared }
            error = Connector.error(reply, "declare of \(what)")
            try recover(from: reply, error)
            // 406: declared by someone else in between, with other properties: meet what exists.
            if error.replyCode == 406 && attempt == 0 { continue }
            throw Self.explained(
                error, reply, what: what,
                fix: error.replyCode == 403
                    ? "grant the broker user configure permission on it, or have the operator declare it"
                    : "declare it as the operator, or align its properties")
        }
        throw AMQPError(.topology, "\(what) keeps changing between declares")
    }

    /// A refusal closed the probe channel: answer close-ok and open it again. Anything else is a lost connection.
    private func recover(from reply: amqp_rpc_reply_t, _ error: AMQPError) throws(AMQPError) {
        guard reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD else {
            throw error
        }
        var ok = amqp_channel_close_ok_t()
        amqp_send_method(conn, Self.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok)
        try open()
    }

    /// One line naming the object, what was asked, what the broker answered and the fix.
    static func explained(_ error: AMQPError, _ reply: amqp_rpc_reply_t, what: String, fix: String) -> AMQPError {
        var e = error
        e.code = .topology
        e.message = "\(what) refused: \(Connector.brokerText(reply) ?? error.message) — fix: \(fix)"
        return e
    }
}

extension AMQPTopology.Queue {
    /// `durable, x-queue-type=quorum` — for log lines.
    fileprivate var summary: String {
        ([durable ? "durable" : "transient"]
            + arguments.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.logValue)" })
            .joined(separator: ", ")
    }
}

extension AMQPFieldValue {
    fileprivate var logValue: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return String(b)
        case .double(let d): return String(d)
        default: return "\(self)"
        }
    }
}
