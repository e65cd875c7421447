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
