import DMSWire

/// Why the agent cannot start or go on. The command line maps each code to its exit status; the library has none.
public struct AgentError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String {
            case pidDirectoryLocked = "pid_directory_locked"
            case pidDirectoryUnusable = "pid_directory_unusable"
            case brokerRefusedConfiguration = "broker_refused_configuration"
        }
        private let value: Value
        /// Another agent holds the PID directory's lock.
        public static let pidDirectoryLocked = Code(value: .pidDirectoryLocked)
        /// The PID directory cannot be created, locked or read.
        public static let pidDirectoryUnusable = Code(value: .pidDirectoryUnusable)
        /// The broker refuses this configuration for good (credentials, virtual host, TLS): retrying cannot help.
        public static let brokerRefusedConfiguration = Code(value: .brokerRefusedConfiguration)
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
