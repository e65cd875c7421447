import CLinuxProcess
import FoundationEssentials
import Glibc
import Logging
import OSThread
import Synchronization

/// Starts, tracks, stops and re-finds one s3vaultfuse process per backup target.
///
/// Every process is tracked in memory and in `<pid-dir>/<target_id>.pid`. Creating, dropping or shutting
/// down a manager never signals a process; only `kill` and a failed spawn do, and only through a pidfd
/// of a process proven to be ours.
public final class S3VaultFuseManager: Sendable {
    public let configuration: VaultFuseConfiguration
    private let logger: Logger
    private let locks = KeyedLocks()
    private let watcher = ExitWatcher()
    private let state = Mutex(State())
    private let lockFD: Int32
    private let isShutDown = Atomic<Bool>(false)

    private struct State {
        var processes: [String: TrackedProcess] = [:]
        var spawnedPIDs: [Int32] = []
        var subscribers: [UInt64: AsyncStream<ManagerEvent>.Continuation] = [:]
        var nextSubscriber: UInt64 = 0
    }

    /// Takes the PID-directory lock (a second manager on the same directory refuses to start) and
    /// creates the directories. Call `recover()` next.
    public init(configuration: VaultFuseConfiguration, logger: Logger = Logger(label: "dms.vaultfuse")) throws(VaultFuseError) {
        self.configuration = configuration
        self.logger = logger
        try makeDirectories(configuration.pidDirectory, mode: 0o755)
        try makeDirectories(configuration.logDirectory, mode: 0o755)
        for base in configuration.mountBases { try makeDirectories(base, mode: 0o755) }
        let lockPath = configuration.pidDirectory + "/.dms-agent.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        if fd < 0 { throw VaultFuseError(.io, "Cannot open lock file \(lockPath): \(Errno.current)") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw VaultFuseError(.lockHeld, "Another dms-agent already manages \(configuration.pidDirectory) (lock \(lockPath) is held); refusing to start")
        }
        lockFD = fd
        raiseOpenFileLimit()
    }

    deinit { shutdown() }

    /// True until `shutdown`: this manager holds the PID-directory lock.
    public var holdsLock: Bool { !isShutDown.load(ordering: .sequentiallyConsistent) }

    /// Releases the PID-directory lock and stops watching. Never kills: processes outlive the manager.
    public func shutdown() {
        guard !isShutDown.exchange(true, ordering: .sequentiallyConsistent) else { return }
        watcher.shutdown()
        close(lockFD)
        let subscribers = state.withLock { s in
            defer { s.subscribers = [:] }
            return Array(s.subscribers.values)
        }
        subscribers.forEach { $0.finish() }
    }

    // MARK: Events

    /// A stream of what happens to targets on its own (crashes, adoptions, stale cleanups) and of
    /// successful mounts and unmounts.
    public func events() -> AsyncStream<ManagerEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: ManagerEvent.self, bufferingPolicy: .bufferingNewest(10_000))
        let id = state.withLock { s -> UInt64 in
            s.nextSubscriber += 1
            s.subscribers[s.nextSubscriber] = continuation
            return s.nextSubscriber
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    private func emit(_ event: ManagerEvent) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        subscribers.forEach { $0.yield(event) }
    }

    // MARK: Paths

    public func pidFilePath(for targetID: String) -> String { "\(configuration.pidDirectory)/\(targetID).pid" }
    public func logFilePath(for targetID: String) -> String { "\(configuration.logDirectory)/\(targetID).log" }
    private func pidFile(_ targetID: String) -> PIDFile { PIDFile(path: pidFilePath(for: targetID)) }

    /// Validates a target id and a mount path without touching anything.
    public func validate(targetID: String, mountPath: String) throws(VaultFuseError) -> String {
        try TargetID.validate(targetID)
        return try MountPathPolicy.normalize(mountPath, bases: configuration.mountBases).path
    }

    // MARK: spawn

    /// Mounts `targetID` at `mountPath` by starting the configured binary, unless a healthy process for
    /// it already serves that path. Returns once the FUSE mount is in the mount table.
    public func spawn(targetID: String, mountPath rawPath: String, environment: [String: String] = [:]) async throws(VaultFuseError) -> SpawnOutcome {
        let mountPath = try validate(targetID: targetID, mountPath: rawPath)
        for key in environment.keys where key.isEmpty || key.contains("=") || key.utf8.contains(0) {
            throw VaultFuseError(.invalidPath, "Invalid environment variable name \(key.debugDescription)")
        }
        return try await serialized(targetID) {
            try await self.spawnLocked(targetID: targetID, mountPath: mountPath, environment: environment)
        }
    }

    /// Runs `body` holding the target's lock, with every failure as a `VaultFuseError`.
    private func serialized<T: Sendable>(_ targetID: String, _ body: () async throws -> T) async throws(VaultFuseError) -> T {
        do {
            return try await locks.withLock(targetID, body)
        } catch let error as VaultFuseError {
            throw error
        } catch {
            throw VaultFuseError(.io, "\(error)")
        }
    }

    private func spawnLocked(targetID: String, mountPath: String, environment: [String: String]) async throws -> SpawnOutcome {
        let deadline = Deadline(after: configuration.mountTimeout)
        // 1. memory, 2. PID file (adopting only a process proven ours)
        if let existing = tracked(targetID) ?? adoptFromPIDFile(targetID) {
            if existing.handle.hasExited {
                await forgetDead(existing, reason: "exited before this mount request")
            } else if existing.mountPath != mountPath {
                throw VaultFuseError(.conflict, "Target \(targetID) is already mounted at \(existing.mountPath), not at \(mountPath)")
            } else if MountTable.fuseMount(at: mountPath) != nil {
                return .alreadyRunning(pid: existing.pid)
            } else {
                // Alive but not (yet) mounted: perhaps still starting after an agent restart.
                let signal = MountChangeSignal()
                let ready = await OSThread.run { Self.awaitMount(existing.handle, path: mountPath, signal: signal, deadline: deadline) }
                if ready == .mounted { return .alreadyRunning(pid: existing.pid) }
                logger.warning("tracked process never mounted; replacing it", metadata: ["target_id": "\(targetID)", "pid": "\(existing.pid)"])
                _ = try await stopLocked(existing, lazyIfBusy: true)
            }
        }
        if let holder = state.withLock({ $0.processes.values.first { $0.mountPath == mountPath && $0.targetID != targetID } }) {
            throw VaultFuseError(.conflict, "Mount path \(mountPath) is in use by target \(holder.targetID)")
        }
        try MountPathPolicy.prepareDirectory(mountPath, base: MountPathPolicy.normalize(mountPath, bases: configuration.mountBases).base)
        // A mount left at the path by a dead server is stale: clear it, lazily if busy.
        if let entry = MountTable.mount(at: mountPath) {
            guard entry.isFUSE else {
                throw VaultFuseError(.conflict, "Mount path \(mountPath) already holds a \(entry.fsType) mount")
            }
            let outcome = await OSThread.run { Unmounter.clearStale(mountPath) }
            logger.notice("cleared stale mount before spawn", metadata: ["target_id": "\(targetID)", "mount_path": "\(mountPath)", "outcome": "\(outcome)"])
            emit(.staleCleaned(targetID: targetID, path: mountPath, detail: "stale FUSE mount unmounted (\(outcome))"))
        }
        return try await startProcess(targetID: targetID, mountPath: mountPath, environment: environment, deadline: deadline)
    }

    private func startProcess(targetID: String, mountPath: String, environment: [String: String], deadline: Deadline) async throws -> SpawnOutcome {
        let logPath = logFilePath(for: targetID)
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o640)
        if logFD < 0 { throw VaultFuseError(.spawnFailed, "Cannot open fuse log \(logPath): \(Errno.current)") }
        defer { close(logFD) }
        var env = environment
        env["PATH"] = configuration.searchPath
        env["vault_data_directory"] = mountPath
        env["DMS_TARGET_ID"] = targetID
        let signal = MountChangeSignal()
        let binary = configuration.binary
        Failpoint.hit("before-spawn")
        let spawned = Spawn.start(path: binary, argv: [binary], environment: env.map { "\($0.key)=\($0.value)" }.sorted(),
                                  stdout: logFD, stderr: logFD, newSession: true)
        let pid: Int32
        switch spawned {
        case .success(let p): pid = p
        case .failure(let e): throw VaultFuseError(.spawnFailed, "Failed to spawn s3vaultfuse process: \(binary): \(e)")
        }
        guard case .success(let handle) = ProcessHandle.open(pid: pid) else {
            throw VaultFuseError(.spawnFailed, "Failed to spawn s3vaultfuse process: pidfd_open(\(pid)): \(Errno.current)")
        }
        let record = TrackedProcess(targetID: targetID, mountPath: mountPath, handle: handle, adopted: false)
        state.withLock { s in
            s.processes[targetID] = record
            s.spawnedPIDs.append(pid)
            if s.spawnedPIDs.count > configuration.spawnedPIDHistory { s.spawnedPIDs.removeFirst(s.spawnedPIDs.count - configuration.spawnedPIDHistory) }
        }
        // The PID file goes down right after the spawn, so an agent crash mid-mount leaves a trace.
        Failpoint.hit("after-spawn")
        do {
            try pidFile(targetID).write(pid: pid)
            Failpoint.hit("after-pidfile")
        } catch {
            _ = try? await stopLocked(record, lazyIfBusy: true)
            throw VaultFuseError(.pidFileFailed, "Cannot write PID file \(pidFilePath(for: targetID)): \(error); the process was stopped")
        }
        let ready = await OSThread.run { Self.awaitMount(handle, path: mountPath, signal: signal, deadline: deadline) }
        switch ready {
        case .mounted:
            record.phase.store(TrackedProcess.running, ordering: .sequentiallyConsistent)
            watch(record)
            logger.info("mounted", metadata: ["target_id": "\(targetID)", "pid": "\(pid)", "mount_path": "\(mountPath)"])
            emit(.mounted(targetID: targetID, pid: pid, mountPath: mountPath))
            return .started(pid: pid)
        case .exited:
            let status = handle.reap()
            untrack(record)
            pidFile(targetID).remove(onlyIfPID: pid)
            _ = Unmounter.clearStale(mountPath)  // umount(2) reports "not mounted" itself
            throw VaultFuseError(.exitedBeforeMount, "s3vaultfuse exited before mounting (\(status.map { "\($0)" } ?? "exited"))",
                                 logTail: Self.tail(of: logFilePath(for: targetID)))
        case .timedOut:
            _ = try? await stopLocked(record, lazyIfBusy: true)
            throw VaultFuseError(.mountTimeout, "Mount verification failed: \(mountPath) did not appear within \(configuration.mountTimeout) s; the process was stopped",
                                 logTail: Self.tail(of: logFilePath(for: targetID)))
        }
    }

    enum Readiness: Sendable { case mounted, exited, timedOut }

    /// Waits, without sleeping, for a FUSE mount at `path`: poll(2) on the mount table's change signal
    /// and on the process's pidfd.
    static func awaitMount(_ handle: ProcessHandle, path: String, signal: MountChangeSignal, deadline: Deadline) -> Readiness {
        var fds = [pollfd(fd: signal.fd, events: Int16(POLLPRI), revents: 0),
                   pollfd(fd: handle.pidfd, events: Int16(POLLIN), revents: 0)]
        let parent = parentDirectory(of: path)
        while true {
            // Every mount-table change on the node wakes every waiter; a cached statx of the path and its
            // parent (no FUSE request) says whether anything is mounted here before reading the table.
            if Self.mightBeMountPoint(path, parent: parent), MountTable.fuseMount(at: path) != nil { return .mounted }
            if handle.hasExited { return MountTable.fuseMount(at: path) != nil ? .mounted : .exited }
            if deadline.hasPassed { return .timedOut }
            let rc = poll(&fds, 2, deadline.remainingMilliseconds)
            if rc < 0 && errno != EINTR { return .timedOut }
        }
    }

    static func mightBeMountPoint(_ path: String, parent: String) -> Bool {
        var a: (UInt32, UInt32) = (0, 0), b: (UInt32, UInt32) = (0, 0)
        guard dms_cached_device(path, &a.0, &a.1) == 0, dms_cached_device(parent, &b.0, &b.1) == 0 else { return true }
        return a != b
    }

    // MARK: kill

    /// Stops the target's process: unmount (so the filesystem flushes and exits), wait up to the grace
    /// period, SIGTERM, wait, SIGKILL, clear any mount left behind. Returns as soon as the process is gone.
    /// A busy mount fails with `unmount_busy` unless `lazyIfBusy`, which detaches it.
    @discardableResult
    public func kill(targetID: String, lazyIfBusy: Bool = false) async throws(VaultFuseError) -> KillOutcome {
        try TargetID.validate(targetID)
        return try await serialized(targetID) {
            guard let record = self.tracked(targetID) ?? self.adoptFromPIDFile(targetID) else { return .notRunning }
            return try await self.stopLocked(record, lazyIfBusy: lazyIfBusy)
        }
    }

    private func stopLocked(_ record: TrackedProcess, lazyIfBusy: Bool) async throws -> KillOutcome {
        let previous = record.phase.exchange(TrackedProcess.stopping, ordering: .sequentiallyConsistent)
        let grace = configuration.killTimeout
        let path = record.mountPath
        let handle = record.handle
        let result: Result<Void, VaultFuseError> = await OSThread.run {
            // umount(2) itself says whether anything was mounted (EINVAL): no mount-table read needed.
            let unmount = Unmounter.unmount(path)
            var graceMS = Int32(grace * 1000)
            var mountMayRemain = false
            switch unmount {
            case .busy:
                if !lazyIfBusy { return .failure(VaultFuseError(.unmountBusy, "Unmount failed: \(path) is busy")) }
                _ = Unmounter.unmount(path, lazy: true)
            case .notMounted:
                graceMS = 0  // nothing to flush: no reason to wait before SIGTERM
            case .failed:
                mountMayRemain = true
            case .unmounted:
                break
            }
            if !handle.waitForExit(timeoutMilliseconds: graceMS) {
                handle.signal(SIGTERM)
                if !handle.waitForExit(timeoutMilliseconds: max(Int32(grace * 1000), 100)) {
                    handle.signal(SIGKILL)
                    _ = handle.waitForExit(timeoutMilliseconds: 5000)
                }
                mountMayRemain = true
            }
            handle.reap()
            // After a signal (or a failed unmount) the mount may stay ENOTCONN: never leave it behind.
            if mountMayRemain { _ = Unmounter.clearStale(path) }
            return .success(())
        }
        if case .failure(let error) = result {
            record.phase.store(previous, ordering: .sequentiallyConsistent)
            throw error
        }
        untrack(record)
        pidFile(record.targetID).remove(onlyIfPID: record.pid)
        logger.info("unmounted", metadata: ["target_id": "\(record.targetID)", "pid": "\(record.pid)", "mount_path": "\(path)"])
        emit(.unmounted(targetID: record.targetID, pid: record.pid, mountPath: path))
        return .stopped(pid: record.pid, mountPath: path)
    }

    /// Unmounts a FUSE mount at `path` that no live tracked process serves (a crash or an agent that
    /// died mid-unmount left it). Returns true when something was cleaned.
    @discardableResult
    public func cleanStaleMount(at rawPath: String) async throws(VaultFuseError) -> Bool {
        let path = try MountPathPolicy.normalize(rawPath, bases: configuration.mountBases).path
        let served = state.withLock { $0.processes.values.contains { $0.mountPath == path && !$0.handle.hasExited } }
        guard !served, MountTable.fuseMount(at: path) != nil || Unmounter.isDisconnected(path) else { return false }
        let outcome = await OSThread.run { Unmounter.clearStale(path) }
        emit(.staleCleaned(targetID: nil, path: path, detail: "FUSE mount without a live server unmounted (\(outcome))"))
        return true
    }

    // MARK: isRunning, stats, cleanup

    /// Memory first, then the PID file (adopting into memory when proven ours).
    public func isRunning(targetID: String) -> Bool {
        guard TargetID.isValid(targetID) else { return false }
        if let record = tracked(targetID) { return !record.handle.hasExited }
        if let adopted = adoptFromPIDFile(targetID) { return !adopted.handle.hasExited }
        return false
    }

    /// The PID of the target's live process, if any (memory only).
    public func trackedPID(targetID: String) -> Int32? {
        guard let record = tracked(targetID), !record.handle.hasExited else { return nil }
        return record.pid
    }

    public func trackedMountPath(targetID: String) -> String? { tracked(targetID)?.mountPath }

    public func stats() -> ManagerStats {
        let (records, spawned) = state.withLock { (Array($0.processes.values), $0.spawnedPIDs) }
        // One read each of the mount table and the PID directory, not one per tracked process.
        let topMounts = Dictionary(MountTable.read().map { ($0.mountPoint, $0) }, uniquingKeysWith: { _, top in top })
        let onDisk = pidFileTargets()
        let onDiskSet = Set(onDisk)
        var processes: [ManagerStats.Process] = []
        var alive = 0
        for record in records.sorted(by: { $0.targetID < $1.targetID }) {
            let isAlive = !record.handle.hasExited
            if isAlive { alive += 1 }
            processes.append(.init(
                targetID: record.targetID, pid: record.pid, alive: isAlive, mountPath: record.mountPath,
                mounted: topMounts[record.mountPath]?.isFUSE ?? false,
                pidFile: pidFilePath(for: record.targetID), pidFileExists: onDiskSet.contains(record.targetID),
                uptimeSeconds: isAlive ? ProcFS.uptimeSeconds(pid: record.pid) : nil, adopted: record.adopted))
        }
        let inMemory = Set(records.map(\.targetID))
        return ManagerStats(
            totalTracked: records.count, alive: alive, dead: records.count - alive, allPIDsEverSpawned: spawned,
            pidFilesOnDisk: onDisk.count, pidDirectory: configuration.pidDirectory, processes: processes,
            onlyOnDisk: onDisk.filter { !inMemory.contains($0) }.sorted())
    }

    /// Drops dead processes from memory, deletes their PID files, clears their stale mounts. Never kills.
    @discardableResult
    public func cleanupDeadProcesses() async -> Int {
        let dead = state.withLock { s in s.processes.values.filter { $0.handle.hasExited } }
        for record in dead {
            await locks.withLock(record.targetID) {
                guard self.tracked(record.targetID) === record else { return }
                await self.forgetDead(record, reason: "cleanup")
            }
        }
        return dead.count
    }

    // MARK: Recovery

    /// Adopts every live process proven ours from the PID directory (and any of ours that lost its PID
    /// file), deletes stale PID files, and unmounts FUSE mounts under the mount base that nobody serves.
    public func recover() async -> RecoveryReport {
        let start = monotonicNanos()
        var loaded = 0, cleaned = 0
        for targetID in pidFileTargets() {
            guard TargetID.isValid(targetID) else {
                unlink("\(configuration.pidDirectory)/\(targetID).pid")
                cleaned += 1
                continue
            }
            if tracked(targetID) != nil { continue }
            var removed = false
            if adoptFromPIDFile(targetID, removedStale: &removed, quiet: true) != nil { loaded += 1 } else if removed { cleaned += 1 }
        }
        // Ours but without a PID file: the agent died between spawn and PID-file write.
        let trackedPIDs = state.withLock { Set($0.processes.values.map(\.pid)) }
        let myUID = getuid()
        for pid in ProcFS.allPIDs() where pid != ProcFS.ownPID && !trackedPIDs.contains(pid) {
            guard ownerUID(of: "/proc/\(pid)") == myUID,
                  let env = ProcFS.environment(pid: pid), let targetID = env["DMS_TARGET_ID"],
                  let path = env["vault_data_directory"], configuration.isBelowMountBase(path),
                  TargetID.isValid(targetID), tracked(targetID) == nil,
                  case .success(let handle) = ProcessHandle.open(pid: pid),
                  ProcFS.isAliveAndNotZombie(pid: pid) else { continue }
            let record = TrackedProcess(targetID: targetID, mountPath: path, handle: handle, adopted: true)
            if MountTable.fuseMount(at: path) != nil, (try? pidFile(targetID).write(pid: pid)) != nil {
                track(record)
                loaded += 1
                emit(.adopted(targetID: targetID, pid: pid, mountPath: path))
            } else {
                _ = try? await stopLocked(record, lazyIfBusy: true)
                cleaned += 1
                emit(.staleCleaned(targetID: targetID, path: path, detail: "orphan process \(pid) without PID file or mount stopped"))
            }
        }
        // FUSE mounts below the base that no live process of ours serves.
        if cleaned > 0 {
            emit(.staleCleaned(targetID: nil, path: configuration.pidDirectory, detail: "\(cleaned) stale PID files removed at start"))
        }
        let served = state.withLock { Set($0.processes.values.filter { !$0.handle.hasExited }.map(\.mountPath)) }
        for entry in MountTable.read() where entry.isFUSE && configuration.isBelowMountBase(entry.mountPoint) && !served.contains(entry.mountPoint) {
            let outcome = await OSThread.run { Unmounter.clearStale(entry.mountPoint) }
            cleaned += 1
            emit(.staleCleaned(targetID: nil, path: entry.mountPoint, detail: "FUSE mount without a live server unmounted (\(outcome))"))
        }
        let seconds = Double(monotonicNanos() - start) / 1e9
        logger.info("recovered PID directory", metadata: ["loaded": "\(loaded)", "cleaned": "\(cleaned)", "pid_dir": "\(configuration.pidDirectory)", "seconds": "\(seconds)"])
        return RecoveryReport(loaded: loaded, cleaned: cleaned, seconds: seconds)
    }

    // MARK: Identity

    /// Reads and proves a PID file. Returns the tracked record if the process is ours; deletes the file
    /// (never signalling its PID) otherwise.
    private func adoptFromPIDFile(_ targetID: String) -> TrackedProcess? {
        var removed = false
        return adoptFromPIDFile(targetID, removedStale: &removed)
    }

    /// `quiet`: recovery reports stale files in one summary instead of one log line and event each
    /// (a node with thousands of stale files must not flood the log and the broker at start).
    private func adoptFromPIDFile(_ targetID: String, removedStale: inout Bool, quiet: Bool = false) -> TrackedProcess? {
        let file = pidFile(targetID)
        switch Self.verify(file: file, targetID: targetID, configuration: configuration) {
        case .none:
            return nil
        case .stale(let why):
            removedStale = file.remove()
            if quiet {
                logger.debug("removed stale PID file", metadata: ["target_id": "\(targetID)", "reason": "\(why)"])
            } else {
                logger.notice("removed stale PID file", metadata: ["target_id": "\(targetID)", "reason": "\(why)"])
                emit(.staleCleaned(targetID: targetID, path: file.path, detail: why))
            }
            return nil
        case .ours(let handle, let mountPath):
            let record = TrackedProcess(targetID: targetID, mountPath: mountPath, handle: handle, adopted: true)
            track(record)
            logger.info("adopted", metadata: ["target_id": "\(targetID)", "pid": "\(handle.pid)", "mount_path": "\(mountPath)"])
            emit(.adopted(targetID: targetID, pid: handle.pid, mountPath: mountPath))
            return record
        }
    }

    public enum Verdict {
        case none
        case stale(String)
        case ours(ProcessHandle, mountPath: String)
    }

    /// The identity proof: regular file owned by root or us; a live, non-zombie process of our uid that
    /// started no later than the file was written; whose environment names this target (or, for an older
    /// agent's process, whose command line runs the configured binary). The pidfd is opened first, so
    /// once the proof passes and the pidfd still shows the process alive, it pins that very process.
    static func verify(file: PIDFile, targetID: String, configuration: VaultFuseConfiguration) -> Verdict {
        let contents: PIDFile.Contents
        switch file.read() {
        case .failure(.missing): return .none
        case .failure(let why): return .stale("\(why)")
        case .success(let c): contents = c
        }
        let pid = contents.pid
        guard pid != ProcFS.ownPID else { return .stale("PID \(pid) is the agent itself") }
        guard case .success(let handle) = ProcessHandle.open(pid: pid) else {
            return .stale("PID \(pid) is not running")
        }
        guard let stat = ProcFS.stat(pid: pid), stat.state != "Z", stat.state != "X" else {
            return .stale("PID \(pid) is a zombie or gone")
        }
        let started = Double(stat.startTicks) / ProcFS.clockTicksPerSecond
        let written = ProcFS.bootRelative(wallClock: contents.modified)
        guard started <= written + configuration.pidFileStartSlack else {
            return .stale("PID \(pid) started after its PID file was written (recycled PID)")
        }
        guard ownerUID(of: "/proc/\(pid)") == getuid() else {
            return .stale("PID \(pid) runs as another user")
        }
        let env = ProcFS.environment(pid: pid) ?? [:]
        var mountPath = env["vault_data_directory"]
        if env["DMS_TARGET_ID"] != targetID {
            let cmdline = ProcFS.nulSeparated(pid: pid, "cmdline") ?? []
            let runsBinary = cmdline.prefix(2).contains(configuration.binary)
            guard env["DMS_TARGET_ID"] == nil, runsBinary else {
                return .stale("PID \(pid) is not this target's s3vaultfuse")
            }
        }
        guard let path = mountPath, (try? MountPathPolicy.normalize(path, bases: configuration.mountBases))?.path == path else {
            return .stale("PID \(pid) serves no mount path under the mount base")
        }
        mountPath = path
        guard !handle.hasExited else { return .stale("PID \(pid) exited during the check") }
        return .ours(handle, mountPath: path)
    }

    // MARK: Tracking

    private func tracked(_ targetID: String) -> TrackedProcess? { state.withLock { $0.processes[targetID] } }

    private func track(_ record: TrackedProcess) {
        record.phase.store(TrackedProcess.running, ordering: .sequentiallyConsistent)
        state.withLock { $0.processes[record.targetID] = record }
        watch(record)
    }

    private func untrack(_ record: TrackedProcess) {
        watcher.unwatch(record.watchToken.load(ordering: .sequentiallyConsistent))
        state.withLock { s in
            if s.processes[record.targetID] === record { s.processes[record.targetID] = nil }
        }
    }

    private func watch(_ record: TrackedProcess) {
        let token = watcher.watch(record.handle) { [weak self] in
            guard let self, record.phase.load(ordering: .sequentiallyConsistent) == TrackedProcess.running else { return }
            Task { await self.handleUnexpectedExit(record) }
        }
        record.watchToken.store(token, ordering: .sequentiallyConsistent)
    }

    private func handleUnexpectedExit(_ record: TrackedProcess) async {
        await locks.withLock(record.targetID) {
            guard self.tracked(record.targetID) === record,
                  record.phase.load(ordering: .sequentiallyConsistent) == TrackedProcess.running else { return }
            await self.forgetDead(record, reason: "crashed")
        }
    }

    /// Untracks a dead process, deletes its PID file and clears the stale mount it left.
    private func forgetDead(_ record: TrackedProcess, reason: String) async {
        let status = record.handle.reap()
        untrack(record)
        pidFile(record.targetID).remove(onlyIfPID: record.pid)
        let path = record.mountPath
        let outcome = await OSThread.run { Unmounter.clearStale(path) }
        let detail = "\(status.map { "\($0)" } ?? "exited"); stale mount: \(outcome)"
        logger.warning("s3vaultfuse exited unexpectedly", metadata: ["target_id": "\(record.targetID)", "pid": "\(record.pid)", "detail": "\(detail)", "reason": "\(reason)"])
        emit(.crashed(targetID: record.targetID, pid: record.pid, mountPath: path, detail: detail))
    }

    private func pidFileTargets() -> [String] { PIDFile.targets(in: configuration.pidDirectory) }

    /// The last 4 KiB of a fuse log.
    public static func tail(of path: String, bytes: Int = 4096) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 { return "" }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        let start = max(0, Int(size) - bytes)
        var buffer = [UInt8](repeating: 0, count: Int(size) - start)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
    }

    private func raiseOpenFileLimit() {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
    }
}

final class TrackedProcess: Sendable {
    static let starting: Int = 0
    static let running: Int = 1
    static let stopping: Int = 2

    let targetID: String
    let mountPath: String
    let handle: ProcessHandle
    let adopted: Bool
    let phase = Atomic<Int>(TrackedProcess.starting)
    let watchToken = Atomic<UInt64>(0)
    var pid: Int32 { handle.pid }

    init(targetID: String, mountPath: String, handle: ProcessHandle, adopted: Bool) {
        self.targetID = targetID
        self.mountPath = mountPath
        self.handle = handle
        self.adopted = adopted
    }
}
