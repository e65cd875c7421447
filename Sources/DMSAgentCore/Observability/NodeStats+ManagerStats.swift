import DMSWire
import VaultFuse

extension NodeStats {
    /// The manager's figures as the wire carries them.
    init(_ stats: ManagerStats) {
        self.init(
            totalTracked: stats.totalTracked, alive: stats.alive, dead: stats.dead,
            allPIDsEverSpawned: stats.allPIDsEverSpawned, pidFilesOnDisk: stats.pidFilesOnDisk,
            pidDirectory: stats.pidDirectory,
            processes: stats.processes.map {
                Process(
                    targetID: $0.targetID, pid: $0.pid, alive: $0.alive, mountPath: $0.mountPath, mounted: $0.mounted,
                    pidFile: $0.pidFile, pidFileExists: $0.pidFileExists, uptimeSeconds: $0.uptimeSeconds,
                    adopted: $0.adopted)
            },
            onlyOnDisk: stats.onlyOnDisk)
    }
}
