/// Why the client could not send a request or wait for its reply.
public struct DMSClientError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String {
            case invalidURL = "invalid_url"
            case noSuchNode = "no_such_node"
            case closed
        }
        private let value: Value
        /// The broker URL does not parse.
        public static let invalidURL = Code(value: .invalidURL)
        /// The node has no request queue: no agent was ever started with that node id.
        public static let noSuchNode = Code(value: .noSuchNode)
        /// The client is not running, or closed while the caller waited.
        public static let closed = Code(value: .closed)
        public var description: String { value.rawValue }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
