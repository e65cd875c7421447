import FoundationEssentials
import Glibc

package struct AMQPProperties: Sendable, Equatable {
    package var contentType: String?
    package var correlationID: String?
    package var replyTo: String?
    package var messageID: String?
    /// Seconds since the epoch.
    package var timestamp: UInt64?
    /// Milliseconds, as a decimal string (AMQP's format).
    package var expiration: String?
    package var type: String?
    /// The publisher's broker user name. RabbitMQ refuses a publish whose `user_id` is not the publishing
    /// connection's user, so a consumer can trust it.
    package var userID: String?
    /// true → delivery mode 2.
    package var persistent: Bool = false
    package var headers: [String: AMQPFieldValue] = [:]

    package init(
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
