package enum StopOutcome: Sendable, Equatable {
    case stopped(pid: Int32, mountPath: String)
    case notRunning
}
