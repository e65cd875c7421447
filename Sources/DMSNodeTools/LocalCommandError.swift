import LinuxSupport

/// Why a local command failed: what to print, and a code the command line maps to its exit status.
package struct LocalCommandError: CodedError {
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String {
            case pidDirectoryLocked = "pid_directory_locked"
            case invalidSetting = "invalid_setting"
            case failed
        }
        private let value: Value
        /// An agent (or another local command) holds the PID directory.
        package static let pidDirectoryLocked = Code(value: .pidDirectoryLocked)
        /// A setting cannot be used.
        package static let invalidSetting = Code(value: .invalidSetting)
        /// The operation itself failed.
        package static let failed = Code(value: .failed)
        package var description: String { value.rawValue }
    }

    package let code: Code
    package let message: String
    /// The fuse's last log lines, when it failed to mount.
    package let logTail: String?

    package init(_ code: Code, _ message: String, logTail: String? = nil) {
        self.code = code
        self.message = message
        self.logTail = logTail
    }
}
