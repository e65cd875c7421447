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

    /// A live mount or process the agent did not prove its own, so left alone; the next job for it decides.
    public struct LeftAlone: Codable, Sendable, Equatable {
        public var targetID: String?
        public var path: String
        public var pid: Int32?
        public var reason: String

        public init(targetID: String?, path: String, pid: Int32?, reason: String) {
            self.targetID = targetID
            self.path = path
            self.pid = pid
            self.reason = reason
        }

        enum CodingKeys: String, CodingKey {
            case targetID = "target_id"
            case path, pid, reason
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
    /// Live mounts and processes left alone at start (and since), unproven.
    public var leftAlone: [LeftAlone] = []

    enum CodingKeys: String, CodingKey {
        case totalTracked = "total_tracked"
        case alive, dead
        case allPIDsEverSpawned = "all_pids_ever_spawned"
        case pidFilesOnDisk = "pid_files_on_disk"
        case pidDirectory = "pid_directory"
        case processes
        case onlyOnDisk = "only_on_disk"
        case leftAlone = "left_alone"
    }
}
