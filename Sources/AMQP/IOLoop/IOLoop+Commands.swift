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
            case .publish(let p):
                outbox.append(p)
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
                settledAhead.insert(tag)
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
            case .queueExists(let name, let continuation):
                guard let conn = connection else {
                    continuation.resume(returning: .failure(AMQPError(.connectionLost, "not connected")))
                    continue
                }
                do {
                    continuation.resume(returning: .success(try TopologyProbe(conn: conn).queueExists(name)))
                } catch {
                    continuation.resume(returning: .failure(error))
                    connectionLost(error)
                }
            }
        }
        if !acks.isEmpty { sendAcks(acks) }
        flushOutbox()
    }

    /// Acks a batch: the in-order prefix of outstanding tags with one `multiple` ack, the rest one by one
    /// (so a long-running job holding the oldest tag never keeps later prefetch slots busy). Tags already
    /// settled individually are no longer outstanding at the broker, so a later `multiple` ack skips them.
    func sendAcks(_ acks: Set<UInt64>) {
        guard let conn = connection else { return }
        settledAhead.formUnion(acks)
        var prefixEnd: UInt64?
        var coveredByPrefix: Set<UInt64> = []
        while outstandingHead < outstanding.count, settledAhead.contains(outstanding[outstandingHead]) {
            let tag = outstanding[outstandingHead]
            settledAhead.remove(tag)
            if acks.contains(tag) {
                prefixEnd = tag
                coveredByPrefix.insert(tag)
            }
            outstandingHead += 1
        }
        if outstandingHead > 4096 {
            outstanding.removeFirst(outstandingHead)
            outstandingHead = 0
        }
        var rc: Int32 = 0
        if let prefixEnd { rc = amqp_basic_ack(conn, consumeChannel, prefixEnd, 1) }
        for tag in acks where !coveredByPrefix.contains(tag) && rc == 0 {
            rc = amqp_basic_ack(conn, consumeChannel, tag, 0)
        }
        if rc != 0 { connectionLost(AMQPError(.connectionLost, "ack failed", libraryStatus: rc)) }
    }

    func setBlocked(_ value: Bool) {
        blocked = value
        client.shared.withLock { $0.blocked = value }
    }

    func flushOutbox() {
        guard let conn = connection, !outbox.isEmpty, !blocked else { return }
        let pending = outbox
        outbox.removeAll()
        for (i, p) in pending.enumerated() {
            let arena = CArena()
            var props = FieldDecoder.encode(p.message.properties, arena: arena)
            let rc = amqp_basic_publish(
                conn, publishChannel, arena.bytes(p.message.exchange), arena.bytes(p.message.routingKey),
                p.message.mandatory ? 1 : 0, 0, &props, arena.bytes(p.message.body))
            if rc != 0 {
                outbox = Array(pending[i...])
                connectionLost(AMQPError(.connectionLost, "publish failed", libraryStatus: rc))
                return
            }
            unconfirmed.append((nextSeq, p))
            nextSeq += 1
        }
    }

    func expireDeadlines() {
        let now = monotonicNanos()
        let timedOut = AMQPError(
            .timeout, "No publisher confirm within the publish timeout (broker unreachable or blocked)")
        outbox.removeAll { p in
            guard p.deadline <= now else { return false }
            p.answer(.failure(timedOut))
            return true
        }
        // Unconfirmed ones keep their sequence entries so later confirms still line up.
        for entry in unconfirmed where entry.publish.deadline <= now { entry.publish.answer(.failure(timedOut)) }
    }
}
