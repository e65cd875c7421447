/// The original manager's stats, same field names on the wire, plus the memory/disk comparison.
package struct ManagerStats: Codable, Sendable, Equatable {
    package struct Process: Codable, Sendable, Equatable {
        package var targetID: String
        package var pid: Int32
        package var alive: Bool
        package var mountPath: String
        package var mounted: Bool
        package var pidFile: String
        package var pidFileExists: Bool
        package var uptimeSeconds: Double?
        package var adopted: Bool

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
    package struct LeftAlone: Codable, Sendable, Equatable {
        package var targetID: String?
        package var path: String
        package var pid: Int32?
        package var reason: String

        package init(targetID: String?, path: String, pid: Int32?, reason: String) {
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

    package var totalTracked: Int
    package var alive: Int
    package var dead: Int
    package var allPIDsEverSpawned: [Int32]
    package var pidFilesOnDisk: Int
    package var pidDirectory: String
    package var processes: [Process]
    /// PID files whose target is not tracked in memory.
    package var onlyOnDisk: [String]
    /// Live mounts and processes left alone at start (and since), unproven.
    package var leftAlone: [LeftAlone] = []

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
