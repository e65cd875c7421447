package import DMSWire
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

    package var mountBase: String
    package var agentRunning: Bool
    package var entries: [Entry]
    /// FUSE mounts below the mount base that no verified PID file accounts for.
    package var untrackedMounts: [String]
    /// The original manager's `get_stats()` under its own names, for its operators' scripts, in the node's one stats
    /// shape. Read from disk, not from an agent's memory: "tracked" means a PID file proven to belong to a live
    /// s3vaultfuse of ours, `all_pids_ever_spawned` holds those PIDs (a spawn history lives only in the running agent's
    /// stats), `only_on_disk` the PID files that prove nothing, and `left_alone` the live mounts and processes an agent
    /// leaves alone.
    package var stats: NodeStats

    package var pidDirectory: String { stats.pidDirectory }
    package var leftAlone: [NodeStats.LeftAlone] { stats.leftAlone }

    enum CodingKeys: String, CodingKey {
        case mountBase = "mount_base"
        case agentRunning = "agent_running"
        case entries
        case untrackedMounts = "untracked_mounts"
    }

    /// One flat object, as the original printed it: the stats' keys beside the report's own.
    package func encode(to encoder: any Encoder) throws {
        try stats.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(mountBase, forKey: .mountBase)
        try c.encode(agentRunning, forKey: .agentRunning)
        try c.encode(entries, forKey: .entries)
        try c.encode(untrackedMounts, forKey: .untrackedMounts)
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mountBase = try c.decode(String.self, forKey: .mountBase)
        agentRunning = try c.decode(Bool.self, forKey: .agentRunning)
        entries = try c.decode([Entry].self, forKey: .entries)
        untrackedMounts = try c.decode([String].self, forKey: .untrackedMounts)
        stats = try NodeStats(from: decoder)
    }

    init(mountBase: String, agentRunning: Bool, entries: [Entry], untrackedMounts: [String], stats: NodeStats) {
        self.mountBase = mountBase
        self.agentRunning = agentRunning
        self.entries = entries
        self.untrackedMounts = untrackedMounts
        self.stats = stats
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
        var leftAlone: [NodeStats.LeftAlone] = []
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
        var processes: [NodeStats.Process] = []
        for entry in entries where entry.verdict == "ours" {
            guard let pid = entry.pid, let path = entry.mountPath else { continue }
            let file = "\(configuration.pidDirectory)/\(entry.targetID).pid"
            // Found on disk, not started by this command: adopted, in the original's sense.
            processes.append(
                .init(
                    targetID: entry.targetID, pid: pid, alive: entry.alive, mountPath: path, mounted: entry.mounted,
                    pidFile: file, pidFileExists: true, uptimeSeconds: entry.uptimeSeconds, adopted: true))
        }
        let alive = processes.filter(\.alive).count
        let stats = NodeStats(
            totalTracked: processes.count, alive: alive, dead: processes.count - alive,
            allPIDsEverSpawned: processes.map(\.pid),
            pidFilesOnDisk: PIDFile.targets(in: configuration.pidDirectory).count,
            pidDirectory: configuration.pidDirectory, processes: processes,
            onlyOnDisk: entries.filter { $0.verdict != "ours" }.map(\.targetID), leftAlone: leftAlone)
        return DirectoryReport(
            mountBase: configuration.mountBases.joined(separator: ","), agentRunning: running, entries: entries,
            untrackedMounts: untracked, stats: stats)
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
