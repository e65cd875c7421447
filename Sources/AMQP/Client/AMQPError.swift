import CRabbitMQ
import LinuxSupport

/// One error type for the client: what failed, with the broker's reply code and text or the library status.
package struct AMQPError: CodedError {
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String {
            case configuration
            case connectionFailed = "connection_failed"
            case connectionLost = "connection_lost"
            case topology
            case publishNacked = "publish_nacked"
            case unroutable
            case refused
            case timeout
            case closed
        }
        private let value: Value
        package static let configuration = Code(value: .configuration)
        package static let connectionFailed = Code(value: .connectionFailed)
        package static let connectionLost = Code(value: .connectionLost)
        /// The broker refused a declare, bind or consume (403, 404, 405, 406): not ready, retried with backoff.
        package static let topology = Code(value: .topology)
        package static let publishNacked = Code(value: .publishNacked)
        package static let unroutable = Code(value: .unroutable)
        /// The broker refused one publish for good (403, 404, 406 closing the publish channel).
        package static let refused = Code(value: .refused)
        package static let timeout = Code(value: .timeout)
        package static let closed = Code(value: .closed)
        package var description: String { value.rawValue }
    }

    package var code: Code
    package var message: String
    /// AMQP reply code (e.g. 406, 320, 312), when the broker sent one.
    package var replyCode: Int?
    /// rabbitmq-c status (e.g. -9), when the library reported one.
    package var libraryStatus: Int32?

    package init(_ code: Code, _ message: String, replyCode: Int? = nil, libraryStatus: Int32? = nil) {
        self.code = code
        self.message = message
        self.replyCode = replyCode
        self.libraryStatus = libraryStatus
    }

    /// Errors that retrying cannot fix (the operator must change the configuration first).
    package var isFatal: Bool { code == .configuration }

    package var description: String {
        var s = "\(code): \(message)"
        if let replyCode { s += " (reply \(replyCode))" }
        if let libraryStatus { s += " (\(String(cString: amqp_error_string2(libraryStatus))))" }
        return s
    }
}
