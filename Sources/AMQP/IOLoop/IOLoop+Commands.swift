import CRabbitMQ
import FoundationEssentials
import Glibc
import LinuxSupport
import Logging

// Commands from other tasks: publishes, acks, consumer changes; the outbox and its deadlines.
extension IOLoop {
    func drainCommands() {
        var one: UInt64 = 0
        _ = read(client.wakeFD, &one, 8)
        let commands = client.shared.withLock { s -> [AMQPClient.Command] in
            s.wakePending = false
            defer { s.commands.removeAll(keepingCapacity: true) }
            return s.commands
        }
        var acks: Set<UInt64> = []
        for command in commands {
            switch command {
            case .publish(let p) where !client.publishes:
                p.answer(.failure(AMQPError(.configuration, "This client was made not to publish")))
            case .publish(let p):
                confirms.enqueue(p)
            case .settle(let tag, let gen, let kind, let continuation):
                guard let conn = connection, gen == generation else {
                    logger.notice(
                        "settle of a delivery from an earlier connection dropped; the broker redelivers it",
                        metadata: [LogKey.deliveryTag: "\(tag)"])
                    continuation?.resume(returning: .staleDelivery)
                    continue
                }
                let rc: Int32
                switch kind {
                case .ack where continuation == nil:
                    acks.insert(tag)  // sent below, coalesced
                    continue
                case .ack: rc = amqp_basic_ack(conn, consumeChannel, tag, 0)
                case .nack(let requeue): rc = amqp_basic_nack(conn, consumeChannel, tag, 0, requeue ? 1 : 0)
                case .reject(let requeue): rc = amqp_basic_reject(conn, consumeChannel, tag, requeue ? 1 : 0)
                }
                deliveries.settledAlone(tag)
                if rc == 0 {
                    continuation?.resume(returning: .settled)
                } else {
                    continuation?.resume(returning: .staleDelivery)
                    connectionLost(AMQPError(.connectionLost, "ack failed", libraryStatus: rc))
                }
            case .cancelConsumer(let continuation):
                consumerWanted = false
                if let conn = connection, let tag = consumerTag {
                    tag.withCString { t in _ = amqp_basic_cancel(conn, consumeChannel, amqp_cstring_bytes(t)) }
                    let reply = amqp_get_rpc_reply(conn)
                    if reply.reply_type != AMQP_RESPONSE_NORMAL {
                        connectionLost(Connector.error(reply, "basic.cancel"))
                    }
                    consumerTag = nil
                }
                client.deliveryContinuation.finish()
                continuation?.resume()
            case .close(let continuation):
                closing = continuation
            case .inspectQueue(let name, let continuation):
                guard let conn = connection else {
                    continuation.resume(returning: .failure(AMQPError(.connectionLost, "not connected")))
                    continue
                }
                do {
                    let look = try openProbe(conn).look(at: name)
                    continuation.resume(
                        returning: .success(look.map { .present(messages: $0, consumers: $1) } ?? .missing))
                } catch  where error.replyCode == 405 {
                    continuation.resume(returning: .success(.exclusiveElsewhere))
                } catch {
                    continuation.resume(returning: .failure(error))
                    connectionLost(error)
                }
            case .deleteQueue(let name, let continuation):
                guard let conn = connection else {
                    continuation.resume(returning: .failure(AMQPError(.connectionLost, "not connected")))
                    continue
                }
                do {
                    try openProbe(conn).delete(name)
                    continuation.resume(returning: .success(()))
                } catch {
                    continuation.resume(returning: .failure(error))
                    // A refusal closes only the probe channel, which `delete` reopened; anything else is the connection.
                    if ![403, 404, 405, 406].contains(error.replyCode ?? 0) { connectionLost(error) }
                }
            }
        }
        if !acks.isEmpty { sendAcks(acks) }
        flushOutbox()
    }

    /// The probe channel of the current connection, opened at its first use and kept.
    func openProbe(_ conn: amqp_connection_state_t) throws(AMQPError) -> TopologyProbe {
        let probe = TopologyProbe(conn: conn)
        if !probeOpen {
            try probe.open()
            probeOpen = true
        }
        return probe
    }

    /// Acks a batch as `DeliveryLedger` plans it: one `multiple` ack for the settled prefix, single acks for the rest.
    func sendAcks(_ acks: Set<UInt64>) {
        guard let conn = connection else { return }
        let plan = deliveries.acknowledge(acks)
        var rc: Int32 = 0
        if let last = plan.multipleUpTo { rc = amqp_basic_ack(conn, consumeChannel, last, 1) }
        for tag in plan.singles where rc == 0 { rc = amqp_basic_ack(conn, consumeChannel, tag, 0) }
        if rc != 0 { connectionLost(AMQPError(.connectionLost, "ack failed", libraryStatus: rc)) }
    }

    /// connection.blocked: publishes stay in the outbox and amqp_basic_publish is not called (it would block in the
    /// kernel once the broker stops reading, rabbitmq-c #519).
    func setBlocked(_ value: Bool) {
        confirms.setBlocked(value)
        client.shared.withLock { $0.blocked = value }
    }

    func flushOutbox() {
        guard let conn = connection else { return }
        let pending = confirms.takeOutbox()
        for (i, p) in pending.enumerated() {
            let arena = CArena()
            var props = FieldDecoder.encode(p.message.properties, arena: arena)
            let rc = amqp_basic_publish(
                conn, publishChannel, arena.bytes(p.message.exchange), arena.bytes(p.message.routingKey),
                p.message.mandatory ? 1 : 0, 0, &props, arena.bytes(p.message.body))
            if rc != 0 {
                confirms.unsent(pending[i...])
                connectionLost(AMQPError(.connectionLost, "publish failed", libraryStatus: rc))
                return
            }
            confirms.sent(p)
        }
    }

    func expireDeadlines() {
        let expired = confirms.expire(now: monotonicNanos())
        guard !expired.isEmpty else { return }
        let timedOut = AMQPError(
            .timeout, "No publisher confirm within the publish timeout (broker unreachable or blocked)")
        for publish in expired { publish.answer(.failure(timedOut)) }
    }
}
