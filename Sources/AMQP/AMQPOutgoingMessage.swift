import FoundationEssentials
import Glibc

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
