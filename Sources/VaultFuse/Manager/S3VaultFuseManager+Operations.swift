import CLinuxProcess
import DMSWire
import Glibc
import LinuxSupport
import Logging
import Synchronization

// Spawning and stopping: each runs under the target's lock on the blocking pool (`serialized`).
extension S3VaultFuseManager {
    /// Mounts `targetID` at `mountPath` by starting the configured binary, unless a healthy process for
    /// it already serves that path. Returns once the FUSE mount is in the mount table.
    package func spawn(targetID: String, mountPath rawPath: String, environment: [String: String] = [:])
        async throws(VaultFuseError) -> SpawnOutcome
    {
        let mountPath = try validate(targetID: targetID, mountPath: rawPath)
        for key in environment.keys where key.isEmpty || key.contains("=") || key.utf8.contains(0) {
            throw VaultFuseError(.invalidPath, "Invalid environment variable name \(key.debugDescription)")
        }
        return try await serialized(targetID) {
            try self.spawnLocked(targetID: targetID, mountPath: mountPath, environment: environment)
        }
    }

    /// Stops the target's process (`StopSequence`: unmount, grace, SIGTERM, grace, SIGKILL, clear the mount).
    /// Returns as soon as the process is gone. A busy mount fails with `unmount_busy` unless `lazyIfBusy`,
    /// which detaches it.
    /// With `mountPath`, a process that serves another path is not this job's: nothing is stopped (`conflict`).
    @discardableResult
    package func stop(targetID: String, mountPath: String? = nil, lazyIfBusy: Bool = false) async throws(VaultFuseError)
        -> StopOutcome
    {
        try TargetID.validate(targetID)
        let expected = try mountPath.map { path throws(VaultFuseError) in
            try validate(targetID: targetID, mountPath: path)
        }
        return try await serialized(targetID) {
            guard let record = try self.tracked(targetID) ?? self.adoptFromPIDFile(targetID, servingPath: expected)
            else { return .notRunning }
            if let expected, record.mountPath != expected {
                throw VaultFuseError(
                    .conflict,
                    "Target \(targetID)'s s3vaultfuse (PID \(record.pid)) serves \(record.mountPath), not \(expected); nothing was stopped"
                )
            }
            return try self.stopLocked(record, lazyIfBusy: lazyIfBusy)
        }
    }

    /// For an unmount job whose target has no process: unmounts a FUSE mount at `path` that no live tracked process
    /// serves. A dead one (a crash, an agent that died mid-unmount) is cleared; a live one, which only a job may take
    /// down, is unmounted because this job asks for it (busy: `unmount_busy`). Returns what was done, for the reply.
    @discardableResult
    package func clearStaleMount(at rawPath: String, targetID: String? = nil) async throws(VaultFuseError)
        -> MountClearing
    {
        let path = try MountPathPolicy.normalize(rawPath, bases: configuration.mountBases).path
        return try await BlockingPool.run { () throws(VaultFuseError) -> MountClearing in
            let served = self.state.withLock {
                $0.processes.values.contains { $0.mountPath == path && !$0.handle.hasExited }
            }
            guard !served, let entry = MountTable.mount(at: path), entry.isFUSE else { return .nothingMounted }
            switch MountLiveness.probe(entry) {
            case .dead(let why):
                let outcome = Unmounter.clearStale(path)
                let detail = "a dead FUSE mount was cleared (\(why); \(outcome))"
                self.emit(.staleCleaned(targetID: nil, path: path, detail: detail))
                return .clearedDead(detail)
            case .live(let why):
                let outcome = Unmounter.unmount(path)
                if outcome == .busy {
                    throw VaultFuseError(.unmountBusy, "\(path) is busy: a live FUSE mount this agent did not start")
                }
                guard outcome == .unmounted || outcome == .notMounted else {
                    throw VaultFuseError(.unmountFailed, "Cannot unmount \(path): \(outcome)")
                }
                self.state.withLock { s in s.leftAlone = s.leftAlone.filter { $0.value.path != path } }
                let detail =
                    "a live FUSE mount no process of this agent served (\(why)) was unmounted, as this job asks"
                self.logger.notice(
                    "unmounted a live mount this agent did not start", metadata: [LogKey.path: "\(path)"])
                if let targetID { self.emit(.unmounted(targetID: targetID, pid: nil, mountPath: path)) }
                return .unmountedLive(detail)
            }
        }
    }

    // MARK: Under the target's lock

    private func spawnLocked(targetID: String, mountPath: String, environment: [String: String]) throws -> SpawnOutcome
    {
        // 1. memory, 2. PID file (adopting only a process proven ours)
        if let existing = try tracked(targetID) ?? adoptFromPIDFile(targetID, servingPath: mountPath) {
            if existing.handle.hasExited {
                forgetDead(existing, reason: "exited before this mount request")
            } else if existing.mountPath != mountPath {
                throw VaultFuseError(
                    .conflict, "Target \(targetID) is already mounted at \(existing.mountPath), not at \(mountPath)")
            } else if MountTable.hasFUSEMount(at: mountPath) {
                return .alreadyRunning(pid: existing.pid)
            } else {
                // Alive but not (yet) mounted: perhaps still starting after an agent restart.
                let ready = MountReadiness.await(
                    existing.handle, path: mountPath, signal: MountChangeSignal(),
                    deadline: Deadline(after: configuration.mountTimeout))
                if ready == .mounted { return .alreadyRunning(pid: existing.pid) }
                logger.warning(
                    "tracked process never mounted; replacing it",
                    metadata: [LogKey.targetID: "\(targetID)", LogKey.pid: "\(existing.pid)"])
                _ = try stopLocked(existing, lazyIfBusy: true)
            }
        }
        if let holder = state.withLock({
            $0.processes.values.first { $0.mountPath == mountPath && $0.targetID != targetID }
        }) {
            throw VaultFuseError(.conflict, "Mount path \(mountPath) is in use by target \(holder.targetID)")
        }
        try MountPathPolicy.prepareDirectory(
            mountPath, base: MountPathPolicy.normalize(mountPath, bases: configuration.mountBases).base)
        // A mount left at the path by a dead server is stale: clear it, lazily if busy.
        if let entry = MountTable.mount(at: mountPath) {
            guard entry.isFUSE else {
                throw VaultFuseError(.conflict, "Mount path \(mountPath) already holds a \(entry.fsType) mount")
            }
            if case .live(let why) = MountLiveness.probe(entry) {
                throw VaultFuseError(
                    .conflict,
                    "A live FUSE mount this agent did not start is at \(mountPath) (\(why)); it is left alone: an unmount job for this target takes it down, or list its owner in adopt_users"
                )
            }
            let outcome = Unmounter.clearStale(mountPath)
            logger.notice(
                "cleared stale mount before spawn",
                metadata: [
                    LogKey.targetID: "\(targetID)", LogKey.mountPath: "\(mountPath)", LogKey.outcome: "\(outcome)",
                ])
            emit(.staleCleaned(targetID: targetID, path: mountPath, detail: "stale FUSE mount unmounted (\(outcome))"))
        }
        return try startProcess(targetID: targetID, mountPath: mountPath, environment: environment)
    }

    private func startProcess(targetID: String, mountPath: String, environment: [String: String])
        throws -> SpawnOutcome
    {
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
        let spawned = Spawn.start(
            path: binary, argv: [binary], environment: env.map { "\($0.key)=\($0.value)" }.sorted(),
            stdout: logFD, stderr: logFD, newSession: true)
        let pid: Int32
        StageMarks.mark("spawned")
        switch spawned {
        case .success(let p): pid = p
        case .failure(let e): throw VaultFuseError(.spawnFailed, "Failed to spawn s3vaultfuse process: \(binary): \(e)")
        }
        guard case .success(let handle) = ProcessHandle.open(pid: pid) else {
            throw VaultFuseError(
                .spawnFailed, "Failed to spawn s3vaultfuse process: pidfd_open(\(pid)): \(Errno.current)")
        }
        let record = TrackedProcess(targetID: targetID, mountPath: mountPath, handle: handle, adopted: false)
        let history = configuration.spawnedPIDHistory
        state.withLock { s in
            s.processes[targetID] = record
            s.spawnedPIDs.append(pid)
            if s.spawnedPIDs.count > history { s.spawnedPIDs.removeFirst(s.spawnedPIDs.count - history) }
        }
        // The PID file goes down right after the spawn, so an agent crash mid-mount leaves a trace.
        Failpoint.hit("after-spawn")
        do {
            try directory.file(for: targetID).write(pid: pid)
            StageMarks.mark("pid_file")
            Failpoint.hit("after-pidfile")
        } catch {
            _ = try? stopLocked(record, lazyIfBusy: true)
            throw VaultFuseError(
                .pidFileFailed, "Cannot write PID file \(pidFilePath(for: targetID)): \(error); the process was stopped"
            )
        }
        // The fuse has the whole mount timeout from its start: a slow spawn on a busy node does not eat into it.
        let deadline = Deadline(after: configuration.mountTimeout)
        switch MountReadiness.await(handle, path: mountPath, signal: signal, deadline: deadline) {
        case .mounted:
            StageMarks.mark("mount_seen")
            record.phase.store(TrackedProcess.running, ordering: .sequentiallyConsistent)
            watch(record)
            logger.info(
                "mounted",
                metadata: [LogKey.targetID: "\(targetID)", LogKey.pid: "\(pid)", LogKey.mountPath: "\(mountPath)"])
            emit(.mounted(targetID: targetID, pid: pid, mountPath: mountPath))
            return .started(pid: pid)
        case .exited:
            let status = handle.reap()
            untrack(record)
            directory.file(for: targetID).remove(onlyIfPID: pid)
            _ = Unmounter.clearStale(mountPath)  // umount(2) reports "not mounted" itself
            throw VaultFuseError(
                .exitedBeforeMount,
                "s3vaultfuse exited before mounting (\(status.map { "\($0)" } ?? "exited"))"
                    + SandboxProbe.explanation(),
                logTail: Self.tail(of: logPath))
        case .timedOut:
            _ = try? stopLocked(record, lazyIfBusy: true)
            throw VaultFuseError(
                .mountTimeout,
                "Mount verification failed: \(mountPath) did not appear within \(configuration.mountTimeout); the process was stopped",
                logTail: Self.tail(of: logPath))
        }
    }

    func stopLocked(_ record: TrackedProcess, lazyIfBusy: Bool) throws(VaultFuseError) -> StopOutcome {
        let previous = record.phase.exchange(TrackedProcess.stopping, ordering: .sequentiallyConsistent)
        let path = record.mountPath
        if case .failure(let error) = StopSequence.standard(grace: configuration.killTimeout).run(
            record.handle, path: path, lazyIfBusy: lazyIfBusy)
        {
            record.phase.store(previous, ordering: .sequentiallyConsistent)
            throw error
        }
        untrack(record)
        directory.file(for: record.targetID).remove(onlyIfPID: record.pid)
        logger.info(
            "unmounted",
            metadata: [LogKey.targetID: "\(record.targetID)", LogKey.pid: "\(record.pid)", LogKey.mountPath: "\(path)"])
        emit(.unmounted(targetID: record.targetID, pid: record.pid, mountPath: path))
        return .stopped(pid: record.pid, mountPath: path)
    }
}
