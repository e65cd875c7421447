import FoundationEssentials
import Glibc

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
