import FoundationEssentials
import Glibc

/// A message the broker delivered. Settle it with the client's `ack`, `nack` or `reject`.
package struct AMQPDelivery: Sendable {
    package var body: [UInt8]
    package var properties: AMQPProperties
    package var deliveryTag: UInt64
    package var redelivered: Bool
    package var exchange: String
    package var routingKey: String
    /// The connection this delivery came on; tags are meaningless on any other.
    package var generation: UInt64
    /// When the I/O thread decoded it (`monotonicNanos()`): where a consumer's latency budget starts.
    package var receivedAt: UInt64 = 0

    package init(
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
