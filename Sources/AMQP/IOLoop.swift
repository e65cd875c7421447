import CRabbitMQ
import Dispatch
import FoundationEssentials
import Glibc
import Logging

private let consumeChannel: amqp_channel_t = 1
private let publishChannel: amqp_channel_t = 2

/// The I/O thread's state. Nothing here is touched by any other thread: the connection handle of
/// rabbitmq-c is not thread-safe, so it has exactly one owner.
final class IOLoop {
    let client: AMQPClient
    var logger: Logger
    var connection: amqp_connection_state_t?
    var outbox: [AMQPClient.PendingPublish] = []
    var unconfirmed: [(seq: UInt64, publish: AMQPClient.PendingPublish)] = []
    var nextSeq: UInt64 = 1
    var consumerWanted: Bool
    var consumerTag: String?
    var generation: UInt64 = 0
    var attempt = 0
    var closing: CheckedContinuation<Void, Never>?
    var everConnected = false
    var lastTopologyRefusal: String?
    /// connection.blocked (a resource alarm): publishes stay in the outbox, amqp_basic_publish is not called
    /// (it would block in the kernel once the broker stops reading, rabbitmq-c #519).
    var blocked = false
    /// When the current connection came up; one that dies young keeps the backoff growing.
    var connectedAt: UInt64 = 0
    var reconnectNotBefore: UInt64 = 0
    var loggedTopology = false
    var stopped = false
    /// Delivery tags of this connection not yet settled, in delivery order (`outstandingHead` is the first).
    var outstanding: [UInt64] = []
    var outstandingHead = 0
    /// Tags settled out of order (individually), not yet passed by the in-order prefix.
    var settledAhead: Set<UInt64> = []

    init(client: AMQPClient) {
        self.client = client
        self.logger = client.logger
        self.consumerWanted = client.consumerOptions != nil
    }

    func run() {
        while closing == nil && !stopped {
            // Every blocking step below is bounded by this (connect and RPC timeouts, backoff, poll).
            let config = client.configuration
            let bound =
                config.connectTimeout * 3 * Double(max(1, config.endpoints.count)) + config.reconnectMaxDelay + Double(
                    max(config.heartbeat, 1)) * 2
            client.ioDeadline.store(DispatchTime.now().uptimeNanoseconds + UInt64(bound * 1e9), ordering: .relaxed)
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

    // MARK: Connection

    private func connectOnce() {
        drainCommands()
        expireDeadlines()
        if closing != nil { return }
        let now = DispatchTime.now().uptimeNanoseconds
        if reconnectNotBefore > now {
            sleepInterruptibly(seconds: Double(reconnectNotBefore - now) / 1e9)
            reconnectNotBefore = 0
            return
        }
        let config = client.configuration
        var lastError: AMQPError?
        for endpoint in config.endpoints {
            do {
                let conn = try Connector.open(config, endpoint: endpoint)
                let report: AMQPTopologyReport
                do {
                    (consumerTag, report) = try Connector.setUp(
                        conn, topology: client.topology, consumer: consumerWanted ? client.consumerOptions : nil)
                } catch {
                    Connector.destroy(conn, graceful: error.code == .topology)
                    throw error
                }
                connection = conn
                generation += 1
                connectedAt = DispatchTime.now().uptimeNanoseconds
                setBlocked(false)
                let isReconnect = everConnected
                everConnected = true
                logger.info(
                    isReconnect ? "reconnected" : "connected",
                    metadata: ["amqp.host": "\(endpoint.host):\(endpoint.port)", "amqp.generation": "\(generation)"])
                logTopology(report)
                let waiter = client.shared.withLock { s -> CheckedContinuation<Void, Error>? in
                    s.connected = true
                    s.generation = generation
                    if isReconnect { s.reconnects += 1 }
                    s.lastError = nil
                    s.topology = report
                    defer { s.startWaiter = nil }
                    return s.startWaiter
                }
                waiter?.resume()
                // Unconfirmed publishes of the dead connection go out again (at-least-once).
                flushOutbox()
                return
            } catch let error as AMQPError {
                lastError = error
                if error.code == .topology {
                    // Not an outage and not fatal: an object we need is refused (a permission, a shared object
                    // someone else owns). Say so once per distinct refusal, stay not-ready, and try again later.
                    if error.message != lastTopologyRefusal {
                        logger.error(
                            "broker refused the topology; not ready, retrying", metadata: ["error": "\(error.message)"])
                        lastTopologyRefusal = error.message
                    }
                    break
                }
                if error.isFatal {
                    logger.error("invalid AMQP configuration; not retrying", metadata: ["error": "\(error)"])
                    let waiter = client.shared.withLock { s -> CheckedContinuation<Void, Error>? in
                        s.lastError = error
                        defer { s.startWaiter = nil }
                        return s.startWaiter
                    }
                    waiter?.resume(throwing: error)
                    stopped = true
                    return
                }
            } catch {
                lastError = AMQPError(.connectionFailed, "\(error)")
            }
            if let lastError, lastError.code != .topology {
                logger.warning(
                    "broker endpoint failed; trying the next",
                    metadata: [
                        "amqp.host": "\(endpoint.host):\(endpoint.port)",
                        "error": "\(lastError)",
                    ])
            }
        }
        client.shared.withLock { $0.lastError = lastError }
        let jittered = backoff()
        if lastError?.code != .topology {
            logger.warning(
                "broker unreachable; retrying",
                metadata: [
                    "error": "\(lastError.map { "\($0)" } ?? "-")",
                    "retry_in_s": "\(Double(Int(jittered * 100)) / 100)",
                ])
        }
        sleepInterruptibly(seconds: jittered)
    }

    /// The next delay: exponential from the initial delay up to the cap, jittered over its upper half, so a
    /// fleet of agents that lost the same broker does not come back in step.
    private func backoff() -> Double {
        let config = client.configuration
        let delay = min(config.reconnectMaxDelay, config.reconnectInitialDelay * pow(2, Double(min(attempt, 20))))
        attempt += 1
        return Double.random(in: delay / 2...delay)
    }

    /// What the broker held, once per process (and a warning for every existing queue that differs from
    /// the declaration we would have made: we consume it as it is).
    private func logTopology(_ report: AMQPTopologyReport) {
        lastTopologyRefusal = nil
        guard !loggedTopology else { return }
        loggedTopology = true
        for entry in report.entries {
            var metadata: Logger.Metadata = [entry.kind: "\(entry.name)", "origin": "\(entry.origin.rawValue)"]
            if let difference = entry.difference {
                metadata["broker_says"] = "\(difference)"
                logger.warning(
                    "\(entry.kind) exists with other properties than configured; using it as it is", metadata: metadata)
            } else {
                logger.info("\(entry.kind) ready", metadata: metadata)
            }
        }
    }

    private func connectionLost(_ error: AMQPError) {
        guard let conn = connection else { return }
        // A connection that lived long is a fresh start; one that died young (a refusal right after set-up)
        // keeps the backoff growing, so no failure mode reconnects in a tight loop.
        let now = DispatchTime.now().uptimeNanoseconds
        if now - connectedAt > 30_000_000_000 {
            attempt = 0
        } else {
            reconnectNotBefore = now + UInt64(backoff() * 1e9)
        }
        logger.warning("connection lost", metadata: ["error": "\(error)", "amqp.generation": "\(generation)"])
        Connector.destroy(conn, graceful: false)
        connection = nil
        consumerTag = nil
        outstanding.removeAll()
        outstandingHead = 0
        settledAhead.removeAll()
        client.shared.withLock { s in
            s.connected = false
            s.lastError = error
        }
        // Nothing was confirmed for these: publish them again on the next connection.
        outbox.insert(contentsOf: unconfirmed.map(\.publish).filter { !$0.answered }, at: 0)
        unconfirmed.removeAll()
        nextSeq = 1
    }

    // MARK: Commands

    private func drainCommands() {
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
                        metadata: ["amqp.delivery_tag": "\(tag)"])
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
                continuation.resume()
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
    private func sendAcks(_ acks: Set<UInt64>) {
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

    private func setBlocked(_ value: Bool) {
        blocked = value
        client.shared.withLock { $0.blocked = value }
    }

    private func flushOutbox() {
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

    private func expireDeadlines() {
        let now = DispatchTime.now().uptimeNanoseconds
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

    // MARK: Incoming frames

    private func pumpIncoming() {
        var budget = 256
        while let conn = connection, budget > 0 {
            budget -= 1
            var envelope = amqp_envelope_t()
            var zero = timeval(tv_sec: 0, tv_usec: 0)
            let reply = amqp_consume_message(conn, &envelope, &zero, 0)
            if reply.reply_type == AMQP_RESPONSE_NORMAL {
                deliver(envelope)
                amqp_destroy_envelope(&envelope)
                continue
            }
            // Never destroy the envelope after a non-NORMAL result (rabbitmq-c frees parts of it itself).
            if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION {
                if reply.library_error == AMQP_STATUS_TIMEOUT.rawValue { return }
                if reply.library_error == AMQP_STATUS_UNEXPECTED_STATE.rawValue {
                    var frame = amqp_frame_t()
                    let status = amqp_simple_wait_frame(conn, &frame)
                    if status != 0 {
                        connectionLost(AMQPError(.connectionLost, "reading a frame failed", libraryStatus: status))
                        return
                    }
                    handle(frame)
                    continue
                }
            }
            connectionLost(Connector.error(reply, "consume"))
            return
        }
    }

    private func deliver(_ envelope: amqp_envelope_t) {
        let delivery = AMQPDelivery(
            body: FieldDecoder.bytes(envelope.message.body),
            properties: FieldDecoder.properties(envelope.message.properties),
            deliveryTag: envelope.delivery_tag, redelivered: envelope.redelivered != 0,
            exchange: FieldDecoder.string(envelope.exchange), routingKey: FieldDecoder.string(envelope.routing_key),
            generation: generation)
        outstanding.append(delivery.deliveryTag)
        client.deliveryContinuation.yield(delivery)
    }

    private func handle(_ frame: amqp_frame_t) {
        guard let conn = connection, frame.frame_type == AMQP_FRAME_METHOD else { return }
        let method = frame.payload.method
        switch method.id {
        case AMQP_BASIC_ACK_METHOD:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            resolveConfirms(upTo: ack.delivery_tag, multiple: ack.multiple != 0, nacked: false)
        case AMQP_BASIC_NACK_METHOD:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            resolveConfirms(upTo: nack.delivery_tag, multiple: nack.multiple != 0, nacked: true)
        case AMQP_BASIC_RETURN_METHOD:
            let ret = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let exchange = FieldDecoder.string(ret.exchange)
            let key = FieldDecoder.string(ret.routing_key)
            let text = FieldDecoder.string(ret.reply_text)
            var message = amqp_message_t()
            let reply = amqp_read_message(conn, frame.channel, &message, 0)
            if reply.reply_type == AMQP_RESPONSE_NORMAL { amqp_destroy_message(&message) }
            // Returns come in publish order, before the confirm of the same message.
            if let entry = unconfirmed.first(where: {
                $0.publish.message.mandatory && $0.publish.returned == nil
                    && $0.publish.message.exchange == exchange && $0.publish.message.routingKey == key
            }) {
                entry.publish.returned = (Int(ret.reply_code), text)
            }
            if reply.reply_type != AMQP_RESPONSE_NORMAL { connectionLost(Connector.error(reply, "basic.return body")) }
        case AMQP_CHANNEL_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            var ok = amqp_channel_close_ok_t()
            amqp_send_method(conn, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok)
            let text = FieldDecoder.string(close.reply_text)
            if frame.channel == publishChannel, [403, 404, 406].contains(close.reply_code) {
                publishRefused(code: Int(close.reply_code), text: text)
            } else {
                connectionLost(
                    AMQPError(
                        .connectionLost, "channel \(frame.channel) closed by the broker: \(text)",
                        replyCode: Int(close.reply_code)))
            }
        case AMQP_CONNECTION_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            var ok = amqp_connection_close_ok_t()
            amqp_send_method(conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok)
            connectionLost(
                AMQPError(
                    .connectionLost, "connection closed by the broker: \(FieldDecoder.string(close.reply_text))",
                    replyCode: Int(close.reply_code)))
        case AMQP_BASIC_CANCEL_METHOD:
            // The queue was deleted under the consumer: reconnect declares it again.
            connectionLost(AMQPError(.connectionLost, "consumer cancelled by the broker (queue deleted?)"))
        case AMQP_CONNECTION_BLOCKED_METHOD:
            let blocked = method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            logger.warning(
                "broker blocked publishing (resource alarm); holding publishes",
                metadata: ["reason": "\(FieldDecoder.string(blocked.reason))", "held": "\(outbox.count)"])
            setBlocked(true)
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            logger.notice("broker unblocked publishing", metadata: ["held": "\(outbox.count)"])
            setBlocked(false)
            flushOutbox()
        default:
            break
        }
    }

    /// The broker closed the publish channel over one publish (an exchange that does not exist, a missing
    /// write permission): not an outage. The publishes to that exchange fail with the broker's words, the
    /// channel is reopened in confirm mode, and the other unconfirmed publishes go out again on it.
    private func publishRefused(code: Int, text: String) {
        guard let conn = connection else { return }
        let exchange = Self.exchangeNamed(in: text)
        let refused = AMQPError(.refused, "The broker refused the publish: \(text)", replyCode: code)
        var retry: [AMQPClient.PendingPublish] = []
        for entry in unconfirmed {
            let target = entry.publish.message.exchange.isEmpty ? "amq.default" : entry.publish.message.exchange
            if exchange == nil || target == exchange {
                entry.publish.answer(.failure(refused))
            } else {
                retry.append(entry.publish)
            }
        }
        unconfirmed.removeAll()
        nextSeq = 1
        logger.error(
            "publish refused by the broker; channel reopened",
            metadata: ["error": "\(text)", "resent": "\(retry.count)"])
        amqp_channel_open(conn, publishChannel)
        var reply = amqp_get_rpc_reply(conn)
        if reply.reply_type == AMQP_RESPONSE_NORMAL {
            amqp_confirm_select(conn, publishChannel)
            reply = amqp_get_rpc_reply(conn)
        }
        outbox.insert(contentsOf: retry.filter { !$0.answered }, at: 0)
        if reply.reply_type != AMQP_RESPONSE_NORMAL {
            connectionLost(Connector.error(reply, "reopening the publish channel"))
            return
        }
        flushOutbox()
    }

    /// `exchange 'x'` in a broker's reply text (`NOT_FOUND - no exchange 'x' in vhost '/'`).
    static func exchangeNamed(in text: String) -> String? {
        let parts = text.split(separator: "'", omittingEmptySubsequences: false)
        for i in parts.indices.dropLast() where parts[i].hasSuffix("exchange ") { return String(parts[i + 1]) }
        return nil
    }

    private func resolveConfirms(upTo tag: UInt64, multiple: Bool, nacked: Bool) {
        var resolved: [AMQPClient.PendingPublish] = []
        unconfirmed.removeAll { entry in
            guard multiple ? entry.seq <= tag : entry.seq == tag else { return false }
            resolved.append(entry.publish)
            return true
        }
        for p in resolved {
            if let returned = p.returned {
                p.answer(
                    .failure(
                        AMQPError(
                            .unroutable,
                            "Message to exchange \(p.message.exchange.debugDescription) with routing key \(p.message.routingKey.debugDescription) was returned: \(returned.text)",
                            replyCode: returned.code)))
            } else if nacked {
                p.answer(.failure(AMQPError(.publishNacked, "The broker refused the message (basic.nack)")))
            } else {
                p.answer(.success(()))
            }
        }
    }

    // MARK: Waiting

    private func waitForActivity() {
        guard let conn = connection else { return }
        if amqp_frames_enqueued(conn) != 0 || amqp_data_in_buffer(conn) != 0 { return }
        let heartbeat = client.configuration.heartbeat
        var timeoutMS: Int32 = heartbeat > 0 ? Int32(min(1000, heartbeat * 1000 / 4)) : 1000
        let now = DispatchTime.now().uptimeNanoseconds
        if let next = (outbox.map(\.deadline) + unconfirmed.map(\.publish.deadline)).min() {
            timeoutMS = max(0, min(timeoutMS, Int32(clamping: (next > now ? next - now : 0) / 1_000_000 + 1)))
        }
        var fds = [
            pollfd(fd: amqp_get_sockfd(conn), events: Int16(POLLIN), revents: 0),
            pollfd(fd: client.wakeFD, events: Int16(POLLIN), revents: 0),
        ]
        _ = poll(&fds, 2, timeoutMS)
    }

    private func sleepInterruptibly(seconds: Double) {
        var fd = pollfd(fd: client.wakeFD, events: Int16(POLLIN), revents: 0)
        _ = poll(&fd, 1, Int32(seconds * 1000))
    }

    // MARK: Shutdown

    private func shutDown() {
        if let conn = connection {
            if let tag = consumerTag {
                tag.withCString { t in _ = amqp_basic_cancel(conn, consumeChannel, amqp_cstring_bytes(t)) }
                _ = amqp_get_rpc_reply(conn)
            }
            // Give outstanding confirms a brief chance to arrive.
            let end = DispatchTime.now().uptimeNanoseconds + 2_000_000_000
            while !unconfirmed.isEmpty, connection != nil, DispatchTime.now().uptimeNanoseconds < end {
                pumpIncoming()
                if let c = connection, amqp_frames_enqueued(c) == 0, amqp_data_in_buffer(c) == 0 {
                    var fds = [pollfd(fd: amqp_get_sockfd(c), events: Int16(POLLIN), revents: 0)]
                    _ = poll(&fds, 1, 50)
                }
            }
            if let conn = connection { Connector.destroy(conn, graceful: true) }
            connection = nil
        }
        let continuation = closing
        client.shared.withLock { s in
            s.closed = true
            s.connected = false
        }
        failEverything(AMQPError(.closed, "The AMQP client is closed"))
        continuation?.resume()
    }

    private func failEverything(_ error: AMQPError) {
        drainCommandsAfterClose(error)
        outbox.forEach { $0.answer(.failure(error)) }
        outbox.removeAll()
        unconfirmed.forEach { $0.publish.answer(.failure(error)) }
        unconfirmed.removeAll()
        client.deliveryContinuation.finish()
    }

    private func drainCommandsAfterClose(_ error: AMQPError) {
        let commands = client.shared.withLock { s -> [AMQPClient.Command] in
            defer { s.commands.removeAll() }
            return s.commands
        }
        for command in commands {
            switch command {
            case .publish(let p): p.answer(.failure(error))
            case .settle(_, _, _, let c): c?.resume(returning: .staleDelivery)
            case .cancelConsumer(let c), .close(let c): c.resume()
            case .queueExists(_, let c): c.resume(returning: .failure(error))
            }
        }
    }
}
