import CRabbitMQ

/// One error type for the client: what failed, with the broker's reply code and text or the library status.
public struct AMQPError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public static let configuration = Code(name: "configuration")
        public static let connectionFailed = Code(name: "connection_failed")
        public static let connectionLost = Code(name: "connection_lost")
        /// The broker refused a declare, bind or consume (403, 404, 405, 406): not ready, retried with backoff.
        public static let topology = Code(name: "topology")
        public static let publishNacked = Code(name: "publish_nacked")
        public static let unroutable = Code(name: "unroutable")
        /// The broker refused one publish for good (403, 404, 406 closing the publish channel).
        public static let refused = Code(name: "refused")
        public static let timeout = Code(name: "timeout")
        public static let closed = Code(name: "closed")
        public var description: String { name }
    }

    public var code: Code
    public var message: String
    /// AMQP reply code (e.g. 406, 320, 312), when the broker sent one.
    public var replyCode: Int?
    /// rabbitmq-c status (e.g. -9), when the library reported one.
    public var libraryStatus: Int32?

    public init(_ code: Code, _ message: String, replyCode: Int? = nil, libraryStatus: Int32? = nil) {
        self.code = code
        self.message = message
        self.replyCode = replyCode
        self.libraryStatus = libraryStatus
    }

    /// Errors that retrying cannot fix (the operator must change the configuration first).
    public var isFatal: Bool { code == .configuration }

    public var description: String {
        var s = "\(code): \(message)"
        if let replyCode { s += " (reply \(replyCode))" }
        if let libraryStatus { s += " (\(String(cString: amqp_error_string2(libraryStatus))))" }
        return s
    }
}
