import LinuxSupport

/// Every failure of the manager, with a stable machine-readable code.
package struct VaultFuseError: CodedError {
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String {
            case invalidTargetID = "invalid_target_id"
            case pathOutsideBase = "path_outside_base"
            case invalidPath = "invalid_path"
            case conflict = "conflict"
            case spawnFailed = "spawn_failed"
            case exitedBeforeMount = "spawn_failed_exited"
            case mountTimeout = "mount_timeout"
            case pidFileFailed = "pid_file_failed"
            case unmountBusy = "unmount_busy"
            case unmountFailed = "unmount_failed"
            case lockHeld = "lock_held"
            case io = "io_error"
        }
        private let value: Value
        package static let invalidTargetID = Code(value: .invalidTargetID)
        package static let pathOutsideBase = Code(value: .pathOutsideBase)
        package static let invalidPath = Code(value: .invalidPath)
        package static let conflict = Code(value: .conflict)
        package static let spawnFailed = Code(value: .spawnFailed)
        package static let exitedBeforeMount = Code(value: .exitedBeforeMount)
        package static let mountTimeout = Code(value: .mountTimeout)
        package static let pidFileFailed = Code(value: .pidFileFailed)
        package static let unmountBusy = Code(value: .unmountBusy)
        package static let unmountFailed = Code(value: .unmountFailed)
        package static let lockHeld = Code(value: .lockHeld)
        package static let io = Code(value: .io)
        package var description: String { value.rawValue }
    }

    package var code: Code
    package var message: String
    /// The tail of the target's fuse log, when the failure is the fuse's.
    package var logTail: String?

    package init(_ code: Code, _ message: String, logTail: String? = nil) {
        self.code = code
        self.message = message
        self.logTail = logTail
    }
}
