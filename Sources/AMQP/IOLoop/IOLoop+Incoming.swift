import CRabbitMQ
import FoundationEssentials
import Glibc
import LinuxSupport
import Logging

// Frames from the broker: deliveries, confirms, returns, channel and connection closes.
extension IOLoop {
    func pumpIncoming() {
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

    func deliver(_ envelope: amqp_envelope_t) {
        let delivery = AMQPDelivery(
            body: FieldDecoder.bytes(envelope.message.body),
            properties: FieldDecoder.properties(envelope.message.properties),
            deliveryTag: envelope.delivery_tag, redelivered: envelope.redelivered != 0,
            exchange: FieldDecoder.string(envelope.exchange), routingKey: FieldDecoder.string(envelope.routing_key),
            generation: generation, receivedAt: monotonicNanos())
        deliveries.delivered(delivery.deliveryTag)
        if let handler = client.onDelivery { handler(delivery) } else { client.deliveryContinuation.yield(delivery) }
    }

    func handle(_ frame: amqp_frame_t) {
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
            if let entry = confirms.unconfirmed.first(where: {
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
            } else if frame.channel == consumeChannel, consumerTag != nil {
                consumeChannelClosed(code: Int(close.reply_code), text: text)
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
                metadata: [
                    LogKey.reason: "\(FieldDecoder.string(blocked.reason))", LogKey.held: "\(confirms.outbox.count)",
                ])
            setBlocked(true)
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            logger.notice("broker unblocked publishing", metadata: [LogKey.held: "\(confirms.outbox.count)"])
            setBlocked(false)
            flushOutbox()
        default:
            break
        }
    }

    /// The broker closed the publish channel over one publish (an exchange that does not exist, a missing
    /// write permission): not an outage. The publishes to that exchange fail with the broker's words, the
    /// channel is reopened in confirm mode, and the other unconfirmed publishes go out again on it.
    func publishRefused(code: Int, text: String) {
        guard let conn = connection else { return }
        let exchange = Self.exchangeNamed(in: text)
        let refused = AMQPError(.refused, "The broker refused the publish: \(text)", replyCode: code)
        let refusedOnes = confirms.channelClosed { publish in
            exchange == nil || (publish.message.exchange.isEmpty ? "amq.default" : publish.message.exchange) == exchange
        }
        for publish in refusedOnes { publish.answer(.failure(refused)) }
        logger.error(
            "publish refused by the broker; channel reopened",
            metadata: [LogKey.error: "\(text)", LogKey.resent: "\(confirms.outbox.count)"])
        amqp_channel_open(conn, publishChannel)
        var reply = amqp_get_rpc_reply(conn)
        if reply.reply_type == AMQP_RESPONSE_NORMAL {
            amqp_confirm_select(conn, publishChannel)
            reply = amqp_get_rpc_reply(conn)
        }
        if reply.reply_type != AMQP_RESPONSE_NORMAL {
            connectionLost(Connector.error(reply, "reopening the publish channel"))
            return
        }
        flushOutbox()
    }

    /// The broker closed the consume channel (an ack timeout, `406 PRECONDITION_FAILED`, is the common cause): it
    /// requeues every unacked delivery of that channel. Only that channel is reopened; the connection, the publish
    /// channel and its unconfirmed publishes stay. Tags of the old channel mean nothing now: the generation moves on,
    /// so a late ack of one is dropped (and said so by whoever settles it).
    func consumeChannelClosed(code: Int, text: String) {
        guard let conn = connection, let options = client.consumerOptions else { return }
        let unsettled = deliveries.unsettled
        logger.error(
            "broker closed the consume channel; reopening that channel, the connection stays",
            metadata: [
                LogKey.error: "\(text)", LogKey.replyCode: "\(code)", LogKey.requeuedByBroker: "\(max(0, unsettled))",
            ])
        forgetOutstandingDeliveries()
        consumerTag = nil
        generation += 1
        client.shared.withLock { $0.generation = generation }
        amqp_channel_open(conn, consumeChannel)
        do {
            try Connector.check(amqp_get_rpc_reply(conn), "reopening the consume channel")
            consumerTag = try Connector.consume(conn, options)
            client.shared.withLock { $0.consumeChannelReopens += 1 }
        } catch {
            connectionLost(error)
        }
    }

    /// `exchange 'x'` in a broker's reply text (`NOT_FOUND - no exchange 'x' in vhost '/'`).
    static func exchangeNamed(in text: String) -> String? {
        let parts = text.split(separator: "'", omittingEmptySubsequences: false)
        for i in parts.indices.dropLast() where parts[i].hasSuffix("exchange ") { return String(parts[i + 1]) }
        return nil
    }

    func resolveConfirms(upTo tag: UInt64, multiple: Bool, nacked: Bool) {
        for p in confirms.confirm(upTo: tag, multiple: multiple) {
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
}
