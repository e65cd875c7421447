import CRabbitMQ
import Dispatch
import FoundationEssentials
import Glibc

/// Opening, setting up and tearing down one rabbitmq-c connection. Called only from the I/O thread.
enum Connector {
    static func open(_ config: AMQPConfiguration, endpoint: AMQPConfiguration.Endpoint) throws(AMQPError) -> amqp_connection_state_t {
        guard let conn = amqp_new_connection() else { throw AMQPError(.connectionFailed, "out of memory") }
        var ok = false
        defer { if !ok { amqp_destroy_connection(conn) } }
        let socket: OpaquePointer?
        if let tls = config.tls {
            socket = amqp_ssl_socket_new(conn)
            guard let socket else { throw AMQPError(.connectionFailed, "cannot create a TLS socket") }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
            if let ca = tls.caFile {
                let rc = amqp_ssl_socket_set_cacert(socket, ca)
                if rc != 0 { throw AMQPError(.configuration, "cannot load CA file \(ca)", libraryStatus: rc) }
            }
            if let cert = tls.certificateFile, let key = tls.keyFile {
                let rc = amqp_ssl_socket_set_key(socket, cert, key)
                if rc != 0 { throw AMQPError(.configuration, "cannot load client certificate \(cert)", libraryStatus: rc) }
            }
        } else {
            socket = amqp_tcp_socket_new(conn)
        }
        guard let socket else { throw AMQPError(.connectionFailed, "cannot create a socket") }
        var timeout = timeval(tv_sec: Int(config.connectTimeout), tv_usec: Int((config.connectTimeout.truncatingRemainder(dividingBy: 1)) * 1e6))
        let rc = amqp_socket_open_noblock(socket, endpoint.host, Int32(endpoint.port), &timeout)
        if rc != 0 { throw AMQPError(.connectionFailed, "cannot connect to \(endpoint.host):\(endpoint.port)", libraryStatus: rc) }
        amqp_set_handshake_timeout(conn, &timeout)
        amqp_set_rpc_timeout(conn, &timeout)

        let arena = CArena()
        var properties = arena.table([
            "connection_name": .string(config.connectionName),
            "product": .string("dms-agent"),
            "capabilities": .table([
                "consumer_cancel_notify": .bool(true), "connection.blocked": .bool(true),
                "publisher_confirms": .bool(true), "basic.nack": .bool(true),
                "authentication_failure_close": .bool(true), "exchange_exchange_bindings": .bool(true),
            ]),
        ])
        let login = crmq_login_plain(conn, config.virtualHost, Int32(config.channelMax), Int32(config.frameMax), Int32(config.heartbeat),
                                     &properties, config.username, config.password)
        try check(login, "login to \(endpoint.host):\(endpoint.port) as \(config.username)", topologyFatal: false)
        ok = true
        return conn
    }

    /// Opens the consume and publish channels, declares the topology, turns on confirms and starts the
    /// consumer. Returns the consumer tag.
    static func setUp(_ conn: amqp_connection_state_t, topology: AMQPTopology, consumer: AMQPConsumerOptions?) throws(AMQPError) -> String? {
        for channel: amqp_channel_t in [1, 2] {
            amqp_channel_open(conn, channel)
            try check(amqp_get_rpc_reply(conn), "channel.open", topologyFatal: false)
        }
        let arena = CArena()
        for exchange in topology.exchanges {
            amqp_exchange_declare(conn, 1, arena.bytes(exchange.name), arena.bytes(exchange.type), 0, exchange.durable ? 1 : 0, 0, 0, amqp_empty_table)
            try check(amqp_get_rpc_reply(conn), "declare exchange \(exchange.name.debugDescription)", topologyFatal: true)
        }
        for queue in topology.queues {
            amqp_queue_declare(conn, 1, arena.bytes(queue.name), 0, queue.durable ? 1 : 0, queue.exclusive ? 1 : 0,
                               queue.autoDelete ? 1 : 0, arena.table(queue.arguments))
            try check(amqp_get_rpc_reply(conn), "declare queue \(queue.name.debugDescription)", topologyFatal: true)
        }
        for binding in topology.bindings {
            amqp_queue_bind(conn, 1, arena.bytes(binding.queue), arena.bytes(binding.exchange), arena.bytes(binding.routingKey), amqp_empty_table)
            try check(amqp_get_rpc_reply(conn), "bind queue \(binding.queue.debugDescription) to \(binding.exchange.debugDescription)", topologyFatal: true)
        }
        amqp_confirm_select(conn, 2)
        try check(amqp_get_rpc_reply(conn), "confirm.select", topologyFatal: false)
        guard let consumer else { return nil }
        amqp_basic_qos(conn, 1, 0, UInt16(clamping: consumer.prefetch), 0)
        try check(amqp_get_rpc_reply(conn), "basic.qos", topologyFatal: false)
        let ok = amqp_basic_consume(conn, 1, arena.bytes(consumer.queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table)
        try check(amqp_get_rpc_reply(conn), "consume from \(consumer.queue.debugDescription)", topologyFatal: true)
        return ok.map { FieldDecoder.string($0.pointee.consumer_tag) }
    }

    static func destroy(_ conn: amqp_connection_state_t, graceful: Bool) {
        if graceful {
            var short = timeval(tv_sec: 2, tv_usec: 0)
            amqp_set_rpc_timeout(conn, &short)
            _ = amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS)
            _ = amqp_channel_close(conn, 2, AMQP_REPLY_SUCCESS)
            _ = amqp_connection_close(conn, AMQP_REPLY_SUCCESS)
        }
        amqp_destroy_connection(conn)
    }

    static func check(_ reply: amqp_rpc_reply_t, _ what: String, topologyFatal: Bool) throws(AMQPError) {
        if reply.reply_type == AMQP_RESPONSE_NORMAL { return }
        var error = error(reply, what)
        if topologyFatal, let code = error.replyCode, [403, 404, 405, 406].contains(code) {
            error.code = .topology
            if code == 406 { error.message += " — the existing entity was declared with different arguments or type (e.g. classic vs quorum); align the configuration or delete it" }
        }
        throw error
    }

    static func error(_ reply: amqp_rpc_reply_t, _ what: String) -> AMQPError {
        switch reply.reply_type {
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return AMQPError(.connectionLost, "\(what) failed", libraryStatus: reply.library_error)
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD, let d = reply.reply.decoded {
                let close = d.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                return AMQPError(.connectionFailed, "\(what): \(FieldDecoder.string(close.reply_text))", replyCode: Int(close.reply_code))
            }
            if reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD, let d = reply.reply.decoded {
                let close = d.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                return AMQPError(.connectionLost, "\(what): \(FieldDecoder.string(close.reply_text))", replyCode: Int(close.reply_code))
            }
            return AMQPError(.connectionLost, "\(what): unexpected server method")
        default:
            return AMQPError(.connectionLost, "\(what): no reply (connection closed)")
        }
    }
}
