import DMSAgentCore
import DMSWire

/// Why a local command failed: what to print, and a code the command line maps to its exit status.
public struct LocalCommandError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String {
            case pidDirectoryLocked = "pid_directory_locked"
            case invalidSetting = "invalid_setting"
            case failed
        }
        private let value: Value
        /// An agent (or another local command) holds the PID directory.
        public static let pidDirectoryLocked = Code(value: .pidDirectoryLocked)
        /// A setting cannot be used.
        public static let invalidSetting = Code(value: .invalidSetting)
        /// The operation itself failed.
        public static let failed = Code(value: .failed)
        public var description: String { value.rawValue }
    }

    public let code: Code
    public let message: String
    /// The fuse's last log lines, when it failed to mount.
    public let logTail: String?

    public init(_ code: Code, _ message: String, logTail: String? = nil) {
        self.code = code
        self.message = message
        self.logTail = logTail
    }

    public var description: String { message }
}
