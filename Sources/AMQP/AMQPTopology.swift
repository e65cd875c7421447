import FoundationEssentials
import Glibc

/// What to declare on every (re)connect.
public struct AMQPTopology: Sendable {
    public struct Exchange: Sendable {
        public var name: String
        public var type: String
        public var durable: Bool
        public init(name: String, type: String = "direct", durable: Bool = true) {
            self.name = name
            self.type = type
            self.durable = durable
        }
    }

    public struct Queue: Sendable {
        public var name: String
        public var durable: Bool = true
        public var exclusive: Bool = false
        public var autoDelete: Bool = false
        public var arguments: [String: AMQPFieldValue] = [:]
        /// A queue the set-up may do without: when it is missing and cannot be declared (no configure
        /// permission), the refusal is reported in the topology report instead of failing the set-up.
        public var required: Bool = true
        public init(
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
        public static func make(
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

    public struct Binding: Sendable {
        public var queue: String
        public var exchange: String
        public var routingKey: String
        public init(queue: String, exchange: String, routingKey: String) {
            self.queue = queue
            self.exchange = exchange
            self.routingKey = routingKey
        }
    }

    public var exchanges: [Exchange] = []
    public var queues: [Queue] = []
    public var bindings: [Binding] = []

    public init(exchanges: [Exchange] = [], queues: [Queue] = [], bindings: [Binding] = []) {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
    }
}
