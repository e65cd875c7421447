/// The original manager's stats, same field names on the wire, plus the memory/disk comparison.
public struct ManagerStats: Codable, Sendable, Equatable {
    public struct Process: Codable, Sendable, Equatable {
        public var targetID: String
        public var pid: Int32
        public var alive: Bool
        public var mountPath: String
        public var mounted: Bool
        public var pidFile: String
        public var pidFileExists: Bool
        public var uptimeSeconds: Double?
        public var adopted: Bool

        enum CodingKeys: String, CodingKey {
            case targetID = "target_id"
            case pid, alive
            case mountPath = "mount_path"
            case mounted
            case pidFile = "pid_file"
            case pidFileExists = "pid_file_exists"
            case uptimeSeconds = "uptime_seconds"
            case adopted
        }
    }

    public var totalTracked: Int
    public var alive: Int
    public var dead: Int
    public var allPIDsEverSpawned: [Int32]
    public var pidFilesOnDisk: Int
    public var pidDirectory: String
    public var processes: [Process]
    /// PID files whose target is not tracked in memory.
    public var onlyOnDisk: [String]

    enum CodingKeys: String, CodingKey {
        case totalTracked = "total_tracked"
        case alive, dead
        case allPIDsEverSpawned = "all_pids_ever_spawned"
        case pidFilesOnDisk = "pid_files_on_disk"
        case pidDirectory = "pid_directory"
        case processes
        case onlyOnDisk = "only_on_disk"
    }
}

/// What happened to a target without a caller asking: subscribers publish these.
public enum ManagerEvent: Sendable, Equatable {
    case mounted(targetID: String, pid: Int32, mountPath: String)
    case unmounted(targetID: String, pid: Int32?, mountPath: String?)
    case adopted(targetID: String, pid: Int32, mountPath: String)
    /// A stale PID file or a mount nobody served was removed.
    case staleCleaned(targetID: String?, path: String, detail: String)
    /// The process exited while nobody was stopping it.
    case crashed(targetID: String, pid: Int32, mountPath: String, detail: String)
}

public struct RecoveryReport: Sendable, Equatable {
    public var loaded: Int
    public var cleaned: Int
    public var seconds: Double
}

public enum SpawnOutcome: Sendable, Equatable {
    case started(pid: Int32)
    case alreadyRunning(pid: Int32)

    public var pid: Int32 {
        switch self {
        case .started(let pid), .alreadyRunning(let pid): return pid
        }
    }
}

public enum KillOutcome: Sendable, Equatable {
    case stopped(pid: Int32, mountPath: String)
    case notRunning
}
