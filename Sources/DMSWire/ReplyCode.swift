/// Stable, machine-readable reasons carried in a reply's `code`.
public enum ReplyCode: String, Codable, Sendable {
    case ok
    case invalidRequest = "invalid_request"
    case invalidTargetID = "invalid_target_id"
    case pathOutsideBase = "path_outside_base"
    case wrongHost = "wrong_host"
    case expired
    case conflict
    case spawnFailed = "spawn_failed"
    case mountTimeout = "mount_timeout"
    case credentialsFailed = "credentials_failed"
    case unmountBusy = "unmount_busy"
    case unmountFailed = "unmount_failed"
    case mountFailed = "mount_failed"
    case unsupportedType = "unsupported_type"
    case unknownAction = "unknown_action"
    case internalError = "internal_error"
    case publisherNotAllowed = "publisher_not_allowed"
    /// The agent died during every one of the job's allowed attempts: it is not run again.
    case attemptsExhausted = "attempts_exhausted"
}
