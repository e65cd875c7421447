import FoundationEssentials
import Glibc

/// What to declare on every (re)connect.
package struct AMQPTopology: Sendable {
    package struct Exchange: Sendable {
        package var name: String
        package var type: String
        package var durable: Bool
        package init(name: String, type: String = "direct", durable: Bool = true) {
            self.name = name
            self.type = type
            self.durable = durable
        }
    }

    package struct Queue: Sendable {
        package var name: String
        package var durable: Bool = true
        package var exclusive: Bool = false
        package var autoDelete: Bool = false
        package var arguments: [String: AMQPFieldValue] = [:]
        /// A queue the set-up may do without: when it is missing and cannot be declared (no configure
        /// permission), the refusal is reported in the topology report instead of failing the set-up.
        package var required: Bool = true
        package init(
            name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false,
            arguments: [String: AMQPFieldValue] = [:], required: Bool = true
        ) {
            self.name = name
            self.durable = durable
            self.exclusive = exclusive
            self.autoDelete = autoDelete
            self.arguments = arguments
            self.required = required
        }

        /// A classic or quorum queue with an optional dead-letter exchange, delivery limit and TTL.
        package static func make(
            name: String, quorum: Bool = false, deadLetterExchange: String? = nil,
            deadLetterRoutingKey: String? = nil, deliveryLimit: Int? = nil,
            messageTTLMilliseconds: Int? = nil
        ) -> Queue {
            var args: [String: AMQPFieldValue] = [:]
            if quorum { args["x-queue-type"] = .string("quorum") }
            if let deadLetterExchange { args["x-dead-letter-exchange"] = .string(deadLetterExchange) }
            if let deadLetterRoutingKey { args["x-dead-letter-routing-key"] = .string(deadLetterRoutingKey) }
            if let deliveryLimit { args["x-delivery-limit"] = .int(Int64(deliveryLimit)) }
            if let messageTTLMilliseconds { args["x-message-ttl"] = .int(Int64(messageTTLMilliseconds)) }
            return Queue(name: name, arguments: args)
        }
    }

    package struct Binding: Sendable {
        package var queue: String
        package var exchange: String
        package var routingKey: String
        package init(queue: String, exchange: String, routingKey: String) {
            self.queue = queue
            self.exchange = exchange
            self.routingKey = routingKey
        }
    }

    package var exchanges: [Exchange] = []
    package var queues: [Queue] = []
    package var bindings: [Binding] = []

    package init(exchanges: [Exchange] = [], queues: [Queue] = [], bindings: [Binding] = []) {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
    }
}
