import Dispatch
import FoundationEssentials
import Glibc

/// A value in an AMQP field table (headers, queue arguments). Not `indirect`: the recursive cases are already
/// behind a Dictionary's or an Array's storage, so a box per value (an allocation for every `.int`) buys nothing.
public enum AMQPFieldValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    case timestamp(UInt64)
    case table([String: AMQPFieldValue])
    case array([AMQPFieldValue])
    case bytes([UInt8])
    case void

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    public var intValue: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }
}

public struct AMQPProperties: Sendable, Equatable {
    public var contentType: String?
    public var correlationID: String?
    public var replyTo: String?
    public var messageID: String?
    /// Seconds since the epoch.
    public var timestamp: UInt64?
    /// Milliseconds, as a decimal string (AMQP's format).
    public var expiration: String?
    public var type: String?
    /// The publisher's broker user name. RabbitMQ refuses a publish whose `user_id` is not the publishing
    /// connection's user, so a consumer can trust it.
    public var userID: String?
    /// true → delivery mode 2.
    public var persistent: Bool = false
    public var headers: [String: AMQPFieldValue] = [:]

    public init(
        contentType: String? = nil, correlationID: String? = nil, replyTo: String? = nil, messageID: String? = nil,
        timestamp: UInt64? = nil, expiration: String? = nil, type: String? = nil, persistent: Bool = false,
        headers: [String: AMQPFieldValue] = [:], userID: String? = nil
    ) {
        self.userID = userID
        self.contentType = contentType
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.messageID = messageID
        self.timestamp = timestamp
        self.expiration = expiration
        self.type = type
        self.persistent = persistent
        self.headers = headers
    }
}

/// A message the broker delivered. Settle it with the client's `ack`, `nack` or `reject`.
public struct AMQPDelivery: Sendable {
    public var body: [UInt8]
    public var properties: AMQPProperties
    public var deliveryTag: UInt64
    public var redelivered: Bool
    public var exchange: String
    public var routingKey: String
    /// The connection this delivery came on; tags are meaningless on any other.
    public var generation: UInt64
}

public struct AMQPOutgoingMessage: Sendable {
    public var exchange: String
    public var routingKey: String
    public var body: [UInt8]
    public var properties: AMQPProperties
    /// Unroutable → `publish` throws `.unroutable` instead of succeeding silently.
    public var mandatory: Bool

    public init(
        exchange: String = "", routingKey: String, body: [UInt8], properties: AMQPProperties = .init(),
        mandatory: Bool = false
    ) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
        self.mandatory = mandatory
    }
}

public enum SettleOutcome: Sendable, Equatable {
    case settled
    /// The delivery belongs to a connection that is gone; the broker will redeliver it.
    case staleDelivery
}

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

/// What to consume. Deliveries are manual-ack.
public struct AMQPConsumerOptions: Sendable {
    public var queue: String
    /// basic.qos prefetch_count. Default: 10.
    public var prefetch: Int = 10
    public init(queue: String, prefetch: Int = 10) {
        self.queue = queue
        self.prefetch = prefetch
    }
}
