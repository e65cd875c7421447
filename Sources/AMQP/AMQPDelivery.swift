import FoundationEssentials
import Glibc

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
    /// When the I/O thread decoded it (`monotonicNanos()`): where a consumer's latency budget starts.
    public var receivedAt: UInt64 = 0

    public init(
        body: [UInt8], properties: AMQPProperties, deliveryTag: UInt64, redelivered: Bool, exchange: String,
        routingKey: String, generation: UInt64, receivedAt: UInt64 = 0
    ) {
        self.body = body
        self.properties = properties
        self.deliveryTag = deliveryTag
        self.redelivered = redelivered
        self.exchange = exchange
        self.routingKey = routingKey
        self.generation = generation
        self.receivedAt = receivedAt
    }
}
