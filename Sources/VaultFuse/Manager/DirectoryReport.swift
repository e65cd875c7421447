import FoundationEssentials
import Glibc

/// A read-only look at a PID directory and the mount base, as `dms-agent status` prints it. Uses the
/// same identity proof as the manager, but deletes and signals nothing.
package struct DirectoryReport: Codable, Sendable {
    package struct Entry: Codable, Sendable {
        package var targetID: String
        package var pid: Int32?
        package var verdict: String
        package var alive: Bool
        package var mountPath: String?
        package var mounted: Bool
        package var uptimeSeconds: Double?
        enum CodingKeys: String, CodingKey {
            case targetID = "target_id"
            case pid, verdict, alive
            case mountPath = "mount_path"
            case mounted
            case uptimeSeconds = "uptime_seconds"
        }
    }

    package var pidDirectory: String
    package var mountBase: String
    package var agentRunning: Bool
    package var entries: [Entry]
    /// FUSE mounts below the mount base that no verified PID file accounts for.
    package var untrackedMounts: [String]
    /// Of those, the live ones (and live processes whose PID file proves nothing): an agent leaves them alone.
    package var leftAlone: [ManagerStats.LeftAlone] = []

    // The original manager's `get_stats()` under its own names, for its operators' scripts. Read from disk,
    // not from an agent's memory: "tracked" means a PID file proven to belong to a live s3vaultfuse of ours,
    // and `all_pids_ever_spawned` holds those PIDs (a spawn history lives only in the running agent's stats).
    package var totalTracked: Int = 0
    package var alive: Int = 0
    package var dead: Int = 0
    package var allPIDsEverSpawned: [Int32] = []
    package var pidFilesOnDisk: Int = 0
    package var processes: [ManagerStats.Process] = []

    enum CodingKeys: String, CodingKey {
        case pidDirectory = "pid_directory"
        case mountBase = "mount_base"
        case agentRunning = "agent_running"
        case entries
        case untrackedMounts = "untracked_mounts"
        case leftAlone = "left_alone"
        case totalTracked = "total_tracked"
        case alive, dead
        case allPIDsEverSpawned = "all_pids_ever_spawned"
        case pidFilesOnDisk = "pid_files_on_disk"
        case processes
    }

    package static func read(_ configuration: VaultFuseConfiguration) -> DirectoryReport {
        var entries: [Entry] = []
        let mounts = MountTable.read()
        for target in PIDFile.targets(in: configuration.pidDirectory).sorted() {
            let file = PIDFile(path: "\(configuration.pidDirectory)/\(target).pid")
            let pid = try? file.read(allowedOwners: configuration.allowedOwners).get().pid
            guard TargetID.isValid(target) else {
                entries.append(
                    Entry(targetID: target, pid: pid, verdict: "stale: invalid target id", alive: false, mounted: false)
                )
                continue
            }
            switch IdentityProof.verify(file: file, targetID: target, configuration: configuration) {
            case .none:
                continue
            case .stale(let why):
                entries.append(
                    Entry(
                        targetID: target, pid: pid, verdict: "stale: \(why)",
                        alive: pid.map(ProcFS.isAliveAndNotZombie) ?? false, mounted: false))
            case .unproven(let why, let pid, let path):
                entries.append(
                    Entry(
                        targetID: target, pid: pid > 0 ? pid : nil, verdict: "left alone: \(why)",
                        alive: pid > 0 && ProcFS.isAliveAndNotZombie(pid: pid), mountPath: path,
                        mounted: path.flatMap { MountTable.mount(at: $0, in: mounts)?.isFUSE } ?? false))
            case .ours(let handle, let path):
                entries.append(
                    Entry(
                        targetID: target, pid: handle.pid, verdict: "ours", alive: !handle.hasExited, mountPath: path,
                        mounted: MountTable.mount(at: path, in: mounts)?.isFUSE ?? false,
                        uptimeSeconds: ProcFS.uptimeSeconds(pid: handle.pid)))
            }
        }
        let served = Set(entries.compactMap { $0.verdict == "ours" ? $0.mountPath : nil })
        let untrackedEntries = mounts.filter {
            $0.isFUSE && configuration.isBelowMountBase($0.mountPoint) && !served.contains($0.mountPoint)
        }
        let untracked = untrackedEntries.map(\.mountPoint)
        var leftAlone: [ManagerStats.LeftAlone] = []
        for mount in untrackedEntries {
            guard case .live(let why) = MountLiveness.probe(mount) else { continue }
            let entry = entries.first { $0.mountPath == mount.mountPoint }
            leftAlone.append(
                .init(
                    targetID: entry?.targetID, path: mount.mountPoint, pid: entry?.pid,
                    reason: "a live FUSE mount that no process proven the agent's serves (\(why))"))
        }
        var running = false
        let lock = open(configuration.pidDirectory + "/.dms-agent.lock", O_RDONLY | O_CLOEXEC)
        if lock >= 0 {
            running = flock(lock, LOCK_SH | LOCK_NB) != 0
            close(lock)
        }
        var report = DirectoryReport(
            pidDirectory: configuration.pidDirectory, mountBase: configuration.mountBases.joined(separator: ","),
            agentRunning: running, entries: entries, untrackedMounts: untracked, leftAlone: leftAlone)
        report.pidFilesOnDisk = PIDFile.targets(in: configuration.pidDirectory).count
        for entry in entries where entry.verdict == "ours" {
            guard let pid = entry.pid, let path = entry.mountPath else { continue }
            let file = "\(configuration.pidDirectory)/\(entry.targetID).pid"
            // Found on disk, not started by this command: adopted, in the original's sense.
            report.processes.append(
                .init(
                    targetID: entry.targetID, pid: pid, alive: entry.alive, mountPath: path, mounted: entry.mounted,
                    pidFile: file, pidFileExists: true, uptimeSeconds: entry.uptimeSeconds, adopted: true))
        }
        report.totalTracked = report.processes.count
        report.alive = report.processes.filter(\.alive).count
        report.dead = report.totalTracked - report.alive
        report.allPIDsEverSpawned = report.processes.map(\.pid)
        return report
    }

    package var text: String {
        var lines = [
            "pid directory: \(pidDirectory)  mount base: \(mountBase)  agent: \(agentRunning ? "running (holds the lock)" : "not running")"
        ]
        if entries.isEmpty { lines.append("no PID files") }
        for e in entries {
            let pid = e.pid.map(String.init) ?? "-"
            lines.append(
                "\(e.targetID)\tpid=\(pid)\t\(e.verdict)\talive=\(e.alive)\tmounted=\(e.mounted)\t\(e.mountPath ?? "-")"
            )
        }
        let live = Set(leftAlone.map(\.path))
        for m in untrackedMounts where !live.contains(m) {
            lines.append("dead FUSE mount (its server is gone; cleaned at the agent's start): \(m)")
        }
        for m in leftAlone { lines.append("left alone: \(m.path): \(m.reason)") }
        return lines.joined(separator: "\n")
    }
}
