import AMQP
import LinuxSupport

/// Between the consuming connection's I/O thread and the agent: holds the deliveries that arrive before the agent
/// serves (while it recovers), then hands them and every later one to the dispatcher in arrival order, on the I/O
/// thread that received them. Dispatching is synchronous and brief (parse, submit to the scheduler), so a delivery
/// costs no task wake-up before its job's own.
final class DeliveryGate: Sendable {
    typealias Dispatch = @Sendable (AMQPDelivery) -> Void

    private struct State {
        var held: [AMQPDelivery] = []
        var dispatch: Dispatch?
    }

    // Dispatch runs under the lock: the held deliveries must all be submitted before a newer one.
    private let state = Locked(State())

    func receive(_ delivery: AMQPDelivery) {
        state.withLock { s in
            if let dispatch = s.dispatch { dispatch(delivery) } else { s.held.append(delivery) }
        }
    }

    /// Dispatches what was held, then everything that arrives; until `close`.
    func open(_ dispatch: @escaping Dispatch) {
        state.withLock { s in
            s.held.forEach(dispatch)
            s.held = []
            s.dispatch = dispatch
        }
    }

    /// Holds again: a delivery after this waits, unacked, for the broker to redeliver it to the next consumer.
    func close() {
        state.withLock { $0.dispatch = nil }
    }
}
