package enum SpawnOutcome: Sendable, Equatable {
    case started(pid: Int32)
    case alreadyRunning(pid: Int32)

    package var pid: Int32 {
        switch self {
        case .started(let pid), .alreadyRunning(let pid): return pid
        }
    }
}
