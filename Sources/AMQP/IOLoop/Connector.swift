import CRabbitMQ
import FoundationEssentials
import Glibc

/// Opening, setting up and tearing down one rabbitmq-c connection. Called only from the I/O thread.
enum Connector {
    static func open(_ config: AMQPConfiguration, endpoint: AMQPConfiguration.Endpoint) throws(AMQPError)
        -> RabbitMQConnection
    {
        // Freed by its deinit on every failure below.
        guard let connection = RabbitMQConnection() else { throw AMQPError(.connectionFailed, "out of memory") }
        let conn = connection.state
        let socket: OpaquePointer?
        if let tls = config.tls {
            socket = amqp_ssl_socket_new(conn)
            guard let socket else { throw AMQPError(.connectionFailed, "cannot create a TLS socket") }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            let ipLiteral = crmq_is_ip_literal(endpoint.host) == 1
            // For an address, OpenSSL checks the certificate's IP SANs; rabbitmq-c's own check knows DNS names only.
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname && !ipLiteral ? 1 : 0)
            if tls.verifyHostname && ipLiteral && crmq_ssl_expect_ip(socket, endpoint.host) != 0 {
                throw AMQPError(.configuration, "cannot set the expected certificate address \(endpoint.host)")
            }
            if let ca = tls.caFile {
                let rc = amqp_ssl_socket_set_cacert(socket, ca)
                if rc != 0 { throw AMQPError(.configuration, "cannot load CA file \(ca)", libraryStatus: rc) }
            } else if tls.verifyPeer && crmq_ssl_use_system_cas(socket) != 0 {
                throw AMQPError(.configuration, "cannot load the system CA store")
            }
            if let cert = tls.certificateFile, let key = tls.keyFile {
                let rc = amqp_ssl_socket_set_key(socket, cert, key)
                if rc != 0 {
                    throw AMQPError(.configuration, "cannot load client certificate \(cert)", libraryStatus: rc)
                }
            }
        } else {
            socket = amqp_tcp_socket_new(conn)
        }
        guard let socket else { throw AMQPError(.connectionFailed, "cannot create a socket") }
        var timeout = timeval(
            tv_sec: Int(config.connectTimeout.components.seconds),
            tv_usec: Int(config.connectTimeout.components.attoseconds / 1_000_000_000_000))
        let rc = amqp_socket_open_noblock(socket, endpoint.host, Int32(endpoint.port), &timeout)
        if rc != 0 {
            throw AMQPError(.connectionFailed, "cannot connect to \(endpoint.host):\(endpoint.port)", libraryStatus: rc)
        }
        _ = crmq_tune_socket(amqp_get_sockfd(conn), Int32(clamping: config.heartbeat * 1000))
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
        let user = endpoint.username ?? config.username
        let login =
            config.saslExternal
            ? crmq_login_external(
                conn, config.virtualHost, Int32(config.channelMax), Int32(config.frameMax), Int32(config.heartbeat),
                &properties, user)
            : crmq_login_plain(
                conn, config.virtualHost, Int32(config.channelMax), Int32(config.frameMax), Int32(config.heartbeat),
                &properties, user, endpoint.password ?? config.password)
        try check(login, "login to \(endpoint.host):\(endpoint.port) as \(user)")
        return connection
    }

    /// Meets the topology (passive first) on the probe channel, then closes it; opens the publish channel in
    /// confirm mode when the client publishes, and the consume channel with its consumer when it consumes. A channel
    /// nothing uses is never opened: each costs the broker a process and memory on every node of the fleet.
    /// Returns the consumer tag and what the broker held.
    static func setUp(
        _ conn: amqp_connection_state_t, topology: AMQPTopology,
        consumer: AMQPConsumerOptions?, publishes: Bool
    ) throws(AMQPError) -> (tag: String?, report: AMQPTopologyReport) {
        let probe = TopologyProbe(conn: conn)
        try probe.open()
        let report = try probe.ensure(topology)
        try probe.close()
        if publishes {
            amqp_channel_open(conn, publishChannel)
            try check(amqp_get_rpc_reply(conn), "channel.open")
            amqp_confirm_select(conn, publishChannel)
            try check(amqp_get_rpc_reply(conn), "confirm.select")
        }
        guard let consumer else { return (nil, report) }
        amqp_channel_open(conn, consumeChannel)
        try check(amqp_get_rpc_reply(conn), "channel.open")
        return (try consume(conn, consumer), report)
    }

    /// Sets the prefetch and starts the consumer on the (open) consume channel; returns the consumer tag.
    static func consume(_ conn: amqp_connection_state_t, _ consumer: AMQPConsumerOptions) throws(AMQPError) -> String? {
        let arena = CArena()
        amqp_basic_qos(conn, 1, 0, UInt16(clamping: consumer.prefetch), 0)
        try check(amqp_get_rpc_reply(conn), "basic.qos")
        let ok = amqp_basic_consume(conn, 1, arena.bytes(consumer.queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table)
        let reply = amqp_get_rpc_reply(conn)
        if reply.reply_type != AMQP_RESPONSE_NORMAL {
            let what = "consume from queue \(consumer.queue.debugDescription)"
            throw TopologyProbe.explained(
                error(reply, what), reply, what: what, fix: "grant the broker user read permission on the queue")
        }
        return ok.map { FieldDecoder.string($0.pointee.consumer_tag) }
    }

    static func check(_ reply: amqp_rpc_reply_t, _ what: String) throws(AMQPError) {
        if reply.reply_type == AMQP_RESPONSE_NORMAL { return }
        throw error(reply, what)
    }

    /// The broker's reply text of a refused method (`NOT_FOUND - no queue 'x' in vhost '/'`).
    static func brokerText(_ reply: amqp_rpc_reply_t) -> String? {
        guard reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, let d = reply.reply.decoded else { return nil }
        if reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD {
            return FieldDecoder.string(d.assumingMemoryBound(to: amqp_channel_close_t.self).pointee.reply_text)
        }
        if reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD {
            return FieldDecoder.string(d.assumingMemoryBound(to: amqp_connection_close_t.self).pointee.reply_text)
        }
        return nil
    }

    static func error(_ reply: amqp_rpc_reply_t, _ what: String) -> AMQPError {
        switch reply.reply_type {
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return AMQPError(.connectionLost, "\(what) failed", libraryStatus: reply.library_error)
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD, let d = reply.reply.decoded {
                let close = d.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                return AMQPError(
                    .connectionFailed, "\(what): \(FieldDecoder.string(close.reply_text))",
                    replyCode: Int(close.reply_code))
            }
            if reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD, let d = reply.reply.decoded {
                let close = d.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                return AMQPError(
                    .connectionLost, "\(what): \(FieldDecoder.string(close.reply_text))",
                    replyCode: Int(close.reply_code))
            }
            return AMQPError(.connectionLost, "\(what): unexpected server method")
        default:
            return AMQPError(.connectionLost, "\(what): no reply (connection closed)")
        }
    }
}
