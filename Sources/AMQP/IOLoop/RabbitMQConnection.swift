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

    /// channel.close on the two channels and connection.close, each bounded by 2 s: a broker that does not answer
    /// must not hold a shutdown.
    func close() {
        var short = timeval(tv_sec: 2, tv_usec: 0)
        amqp_set_rpc_timeout(state, &short)
        _ = amqp_channel_close(state, 1, AMQP_REPLY_SUCCESS)
        _ = amqp_channel_close(state, 2, AMQP_REPLY_SUCCESS)
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
    }

    deinit { amqp_destroy_connection(state) }
}
