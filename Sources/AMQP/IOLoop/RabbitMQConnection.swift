import CRabbitMQ
import Glibc

/// One rabbitmq-c connection (its state and socket), used by one thread at a time: rabbitmq-c is not thread-safe.
/// `deinit` frees it, so no path can leak it or free it twice; `close()` first says goodbye to the broker.
final class RabbitMQConnection {
    let state: amqp_connection_state_t

    init?() {
        guard let state = amqp_new_connection() else { return nil }
        self.state = state
    }

    /// channel.close on each channel still open, then connection.close, each bounded by 2 s: a broker that does not
    /// answer must not hold a shutdown. Only open channels: a channel.close for one never opened is a connection
    /// error to the broker, and the connection.close after it would wait out the 2 s for an answer.
    func close(openChannels: [amqp_channel_t]) {
        var short = timeval(tv_sec: 2, tv_usec: 0)
        amqp_set_rpc_timeout(state, &short)
        for channel in openChannels { _ = amqp_channel_close(state, channel, AMQP_REPLY_SUCCESS) }
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
    }

    deinit { amqp_destroy_connection(state) }
}
