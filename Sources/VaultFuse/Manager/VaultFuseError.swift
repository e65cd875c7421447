/// Every failure of the manager, with a stable machine-readable code.
package struct VaultFuseError: Error, Sendable, CustomStringConvertible {
    package enum Code: String, Sendable {
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

    package var code: Code
    package var message: String
    /// The tail of the target's fuse log, when the failure is the fuse's.
    package var logTail: String?

    package init(_ code: Code, _ message: String, logTail: String? = nil) {
        self.code = code
        self.message = message
        self.logTail = logTail
    }

    package var description: String { message }
}
