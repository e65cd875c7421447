import CLinuxProcess
package import DMSWire
import Glibc
import LinuxSupport
package import Logging
import Synchronization

/// Starts, tracks, stops and re-finds one s3vaultfuse process per backup target.
///
/// Every process is tracked in memory and in `<pid-dir>/<target_id>.pid`. Creating, dropping or shutting
/// down a manager never signals a process; only `kill` and a failed spawn do, and only through a pidfd
/// of a process proven to be ours (`IdentityProof`). One target's operations run one at a time (`KeyedLocks`),
/// adoption from a PID file included; every operation runs on the blocking pool (`BlockingPool.run`), never
/// on the cooperative one: a stat of a path served by a hung FUSE process blocks that operation's thread only.
///
/// The pieces: `PIDDirectory` (lock, files), `IdentityProof`, `MountReadiness`, `StopSequence`,
/// `EventBroadcaster`; spawning and stopping in `ManagerOperations.swift`, start-up in `Recovery.swift`.
package final class S3VaultFuseManager: Sendable {
    package let configuration: VaultFuseConfiguration
    let logger: Logger
    let directory: PIDDirectory
    let locks = KeyedLocks()
    let broadcaster = EventBroadcaster()
    private let watcher = ExitWatcher()
    /// Processes that exited while running, from the exit watcher's thread to `run()`.
    private let exits = AsyncStream.makeStream(of: TrackedProcess.self)
    let state = Locked(State())
    private let lockFD: Int32
    private let isShutDown = Atomic<Bool>(false)

    struct State {
        var processes: [String: TrackedProcess] = [:]
        var spawnedPIDs: [Int32] = []
        /// Live mounts (or PID files) left alone because nothing proves them this agent's, by mount path or PID file.
        var leftAlone: [String: NodeStats.LeftAlone] = [:]
    }

    /// Takes the PID-directory lock (a second manager on the same directory refuses to start) and
    /// creates the directories. Call `recover()` next.
    package init(configuration: VaultFuseConfiguration, logger: Logger = Logger(label: "dms.vaultfuse"))
        throws(VaultFuseError)
    {
        self.configuration = configuration
        self.logger = logger
        try makeDirectories(configuration.pidDirectory, mode: 0o755)
        directory = PIDDirectory(path: configuration.pidDirectory)
        try makeDirectories(configuration.logDirectory, mode: 0o755)
        for base in configuration.mountBases { try makeDirectories(base, mode: 0o755) }
        lockFD = try directory.lock()
        Self.raiseOpenFileLimit()
    }

    deinit { shutdown() }

    /// True until `shutdown`: this manager holds the PID-directory lock.
    package var holdsLock: Bool { !isShutDown.load(ordering: .sequentiallyConsistent) }

    /// Releases the PID-directory lock and stops watching. Never kills: processes outlive the manager.
    package func shutdown() {
        guard !isShutDown.exchange(true, ordering: .sequentiallyConsistent) else { return }
        watcher.shutdown()
        close(lockFD)
        broadcaster.finish()
        exits.continuation.finish()
    }

    /// Handles every process that exits on its own (untracked, PID file deleted, dead mount cleared, `crashed`
    /// reported), each under its target's lock, until `shutdown()`; returns once the last is handled. The agent runs
    /// it as part of its manager service.
    package func run() async {
        await withDiscardingTaskGroup { group in
            for await record in exits.stream {
                group.addTask { await self.handleUnexpectedExit(record) }
            }
        }
    }

    /// A stream of what happens to targets on its own (crashes, adoptions, stale cleanups) and of
    /// successful mounts and unmounts.
    package func events() -> AsyncStream<ManagerEvent> { broadcaster.subscribe() }

    /// Calls `observer` with each event on the manager's thread that emits it (a job's, often under its target's
    /// lock, or the exit watcher's): it must not block. Returns the token `stopObservingEvents` takes.
    package func observeEvents(_ observer: @escaping @Sendable (ManagerEvent) -> Void) -> UInt64 {
        broadcaster.observe(observer)
    }

    package func stopObservingEvents(_ token: UInt64) { broadcaster.stopObserving(token) }

    func emit(_ event: ManagerEvent) { broadcaster.emit(event) }

    package func pidFilePath(for targetID: String) -> String { directory.filePath(for: targetID) }
    package func logFilePath(for targetID: String) -> String { "\(configuration.logDirectory)/\(targetID).log" }

    /// Validates a target id and a mount path without touching anything.
    package func validate(targetID: String, mountPath: String) throws(VaultFuseError) -> String {
        try TargetID.validate(targetID)
        return try MountPathPolicy.normalize(mountPath, bases: configuration.mountBases).path
    }

    /// Runs `body` holding the target's lock, on the blocking pool, with every failure as a `VaultFuseError`.
    func serialized<T: Sendable>(_ targetID: String, _ body: () async throws -> T) async throws(VaultFuseError) -> T {
        do {
            return try await BlockingPool.run { try await locks.withLock(targetID, body) }
        } catch let error as VaultFuseError {
            throw error
        } catch {
            throw VaultFuseError(.io, "\(error)")
        }
    }

    // MARK: Queries

    /// Memory first, then the PID file (adopting into memory, under the target's lock, when proven ours).
    package func isRunning(targetID: String) async -> Bool {
        guard TargetID.isValid(targetID) else { return false }
        let record = try? await serialized(targetID) { try self.tracked(targetID) ?? self.adoptFromPIDFile(targetID) }
        return record.map { !$0.handle.hasExited } ?? false
    }

    /// The PID of the target's live process, if any (memory only).
    package func trackedPID(targetID: String) -> Int32? {
        guard let record = tracked(targetID), !record.handle.hasExited else { return nil }
        return record.pid
    }

    package func trackedMountPath(targetID: String) -> String? { tracked(targetID)?.mountPath }

    /// What the manager tracks, checked against the mount table and the PID directory, read on the blocking pool.
    package func stats() async -> NodeStats { await BlockingPool.run { currentStats() } }

    /// `stats()` for a caller already on a thread of its own: reads /proc, the mount table and the PID directory.
    package func currentStats() -> NodeStats {
        let (records, spawned) = state.withLock { (Array($0.processes.values), $0.spawnedPIDs) }
        // One read each of the mount table and the PID directory, not one per tracked process.
        let topMounts = Dictionary(MountTable.read().map { ($0.mountPoint, $0) }, uniquingKeysWith: { _, top in top })
        let onDisk = directory.targets()
        let onDiskSet = Set(onDisk)
        var processes: [NodeStats.Process] = []
        var alive = 0
        for record in records.sorted(by: { $0.targetID < $1.targetID }) {
            let isAlive = !record.handle.hasExited
            if isAlive { alive += 1 }
            processes.append(
                .init(
                    targetID: record.targetID, pid: record.pid, alive: isAlive, mountPath: record.mountPath,
                    mounted: topMounts[record.mountPath]?.isFUSE ?? false,
                    pidFile: pidFilePath(for: record.targetID), pidFileExists: onDiskSet.contains(record.targetID),
                    uptimeSeconds: isAlive ? ProcFS.uptimeSeconds(pid: record.pid) : nil, adopted: record.adopted))
        }
        let inMemory = Set(records.map(\.targetID))
        // A mount left alone that has since gone (unmounted by its owner or a job) is no longer reported.
        let leftAlone = state.withLock { s in
            s.leftAlone = s.leftAlone.filter { key, entry in
                key.hasSuffix(".pid") ? onDiskSet.contains(entry.targetID ?? "") : topMounts[entry.path]?.isFUSE == true
            }
            return s.leftAlone.values.sorted { $0.path < $1.path }
        }
        return NodeStats(
            totalTracked: records.count, alive: alive, dead: records.count - alive, allPIDsEverSpawned: spawned,
            pidFilesOnDisk: onDisk.count, pidDirectory: configuration.pidDirectory, processes: processes,
            onlyOnDisk: onDisk.filter { !inMemory.contains($0) }.sorted(), leftAlone: leftAlone)
    }

    /// Drops dead processes from memory, deletes their PID files, clears their stale mounts. Never kills.
    @discardableResult
    package func cleanupDeadProcesses() async -> Int {
        let dead = state.withLock { s in s.processes.values.filter { $0.handle.hasExited } }
        for record in dead {
            _ = try? await serialized(record.targetID) {
                guard self.tracked(record.targetID) === record else { return }
                self.forgetDead(record, reason: "cleanup")
            }
        }
        return dead.count
    }

    // MARK: Tracking

    func tracked(_ targetID: String) -> TrackedProcess? { state.withLock { $0.processes[targetID] } }

    func track(_ record: TrackedProcess) {
        record.phase.store(TrackedProcess.running, ordering: .sequentiallyConsistent)
        state.withLock { $0.processes[record.targetID] = record }
        watch(record)
    }

    func untrack(_ record: TrackedProcess) {
        watcher.unwatch(record.watchToken.load(ordering: .sequentiallyConsistent))
        state.withLock { s in
            if s.processes[record.targetID] === record { s.processes[record.targetID] = nil }
        }
    }

    func watch(_ record: TrackedProcess) {
        let token = watcher.watch(record.handle) { [weak self] in
            guard let self, record.phase.load(ordering: .sequentiallyConsistent) == TrackedProcess.running else {
                return
            }
            self.exits.continuation.yield(record)
        }
        record.watchToken.store(token, ordering: .sequentiallyConsistent)
    }

    private func handleUnexpectedExit(_ record: TrackedProcess) async {
        _ = try? await serialized(record.targetID) {
            guard self.tracked(record.targetID) === record,
                record.phase.load(ordering: .sequentiallyConsistent) == TrackedProcess.running
            else { return }
            self.forgetDead(record, reason: "crashed")
        }
    }

    /// Untracks a dead process, deletes its PID file and clears the stale mount it left. Blocks.
    func forgetDead(_ record: TrackedProcess, reason: String) {
        let status = record.handle.reap()
        untrack(record)
        directory.file(for: record.targetID).remove(onlyIfPID: record.pid)
        let path = record.mountPath
        let outcome = Unmounter.clearStale(path)
        let detail = "\(status.map { "\($0)" } ?? "exited"); stale mount: \(outcome)"
        logger.warning(
            "s3vaultfuse exited unexpectedly",
            metadata: [
                LogKey.targetID: "\(record.targetID)", LogKey.pid: "\(record.pid)", LogKey.detail: "\(detail)",
                LogKey.reason: "\(reason)",
            ])
        emit(.crashed(targetID: record.targetID, pid: record.pid, mountPath: path, detail: detail))
    }

    /// The last 4 KiB of a fuse log.
    package static func tail(of path: String, bytes: Int = 4096) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 { return "" }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        let start = max(0, Int(size) - bytes)
        var buffer = [UInt8](repeating: 0, count: Int(size) - start)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
    }

    /// One pidfd per tracked process: a node with thousands of targets needs more than the soft limit.
    private static func raiseOpenFileLimit() {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }
}
