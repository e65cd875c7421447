import LinuxSupport

/// Why the agent cannot start or go on. The command line maps each code to its exit status; the library has none.
package struct AgentError: CodedError {
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String {
            case pidDirectoryLocked = "pid_directory_locked"
            case pidDirectoryUnusable = "pid_directory_unusable"
            case brokerRefusedConfiguration = "broker_refused_configuration"
        }
        private let value: Value
        /// Another agent holds the PID directory's lock.
        package static let pidDirectoryLocked = Code(value: .pidDirectoryLocked)
        /// The PID directory cannot be created, locked or read.
        package static let pidDirectoryUnusable = Code(value: .pidDirectoryUnusable)
        /// The broker refuses this configuration for good (credentials, virtual host, TLS): retrying cannot help.
        package static let brokerRefusedConfiguration = Code(value: .brokerRefusedConfiguration)
        package var description: String { value.rawValue }
    }

    package let code: Code
    package let message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
