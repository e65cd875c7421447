/// The node's processes in a `status` reply and in node events: the original manager's stats, same field names,
/// plus the memory/disk comparison and what was left alone. The one shape of the node's stats: the manager returns
/// it and `dms-agent status` prints it.
public struct NodeStats: Codable, Sendable, Equatable {
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

        public init(
            targetID: String, pid: Int32, alive: Bool, mountPath: String, mounted: Bool, pidFile: String,
            pidFileExists: Bool, uptimeSeconds: Double?, adopted: Bool
        ) {
            self.targetID = targetID
            self.pid = pid
            self.alive = alive
            self.mountPath = mountPath
            self.mounted = mounted
            self.pidFile = pidFile
            self.pidFileExists = pidFileExists
            self.uptimeSeconds = uptimeSeconds
            self.adopted = adopted
        }
    }

    /// A live mount or process the agent did not prove its own, so left alone; the next job for it decides.
    public struct LeftAlone: Codable, Sendable, Equatable {
        public var targetID: String?
        public var path: String
        public var pid: Int32?
        public var reason: String

        enum CodingKeys: String, CodingKey {
            case targetID = "target_id"
            case path, pid, reason
        }

        public init(targetID: String?, path: String, pid: Int32?, reason: String) {
            self.targetID = targetID
            self.path = path
            self.pid = pid
            self.reason = reason
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
    public var leftAlone: [LeftAlone]

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

    public init(
        totalTracked: Int, alive: Int, dead: Int, allPIDsEverSpawned: [Int32], pidFilesOnDisk: Int,
        pidDirectory: String, processes: [Process], onlyOnDisk: [String], leftAlone: [LeftAlone] = []
    ) {
        self.totalTracked = totalTracked
        self.alive = alive
        self.dead = dead
        self.allPIDsEverSpawned = allPIDsEverSpawned
        self.pidFilesOnDisk = pidFilesOnDisk
        self.pidDirectory = pidDirectory
        self.processes = processes
        self.onlyOnDisk = onlyOnDisk
        self.leftAlone = leftAlone
    }

    /// Decodes replies of agents before `left_alone` existed too.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            totalTracked: try c.decode(Int.self, forKey: .totalTracked), alive: try c.decode(Int.self, forKey: .alive),
            dead: try c.decode(Int.self, forKey: .dead),
            allPIDsEverSpawned: try c.decode([Int32].self, forKey: .allPIDsEverSpawned),
            pidFilesOnDisk: try c.decode(Int.self, forKey: .pidFilesOnDisk),
            pidDirectory: try c.decode(String.self, forKey: .pidDirectory),
            processes: try c.decode([Process].self, forKey: .processes),
            onlyOnDisk: try c.decode([String].self, forKey: .onlyOnDisk),
            leftAlone: try c.decodeIfPresent([LeftAlone].self, forKey: .leftAlone) ?? [])
    }
}
