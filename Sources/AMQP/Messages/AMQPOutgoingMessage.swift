import FoundationEssentials
import Glibc

package struct AMQPOutgoingMessage: Sendable {
    package var exchange: String
    package var routingKey: String
    package var body: [UInt8]
    package var properties: AMQPProperties
    /// Unroutable → `publish` throws `.unroutable` instead of succeeding silently.
    package var mandatory: Bool

    package init(
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
