import CLinuxProcess
import DMSWire
import Glibc
import LinuxSupport
import Logging

// Start-up: adopt what the PID directory proves ours, clean the rest. Adoption (here and on demand) happens
// only under the target's lock.
extension S3VaultFuseManager {
    /// Adopts every live process proven ours from the PID directory (and any of ours that lost its PID
    /// file), deletes stale PID files, and unmounts FUSE mounts under the mount base that nobody serves.
    package func recover() async -> RecoveryReport {
        let start = monotonicNanos()
        var (loaded, cleaned) = await BlockingPool.run { adoptFromPIDDirectory() }
        let (orphansAdopted, orphansStopped) = await BlockingPool.run { adoptOrphans() }
        loaded += orphansAdopted
        cleaned += orphansStopped
        if cleaned > 0 {
            emit(
                .staleCleaned(
                    targetID: nil, path: configuration.pidDirectory,
                    detail: "\(cleaned) stale PID files removed at start"))
        }
        cleaned += await BlockingPool.run { clearUnservedMounts() }
        let elapsed = Duration.nanoseconds(Int64(monotonicNanos() - start))
        logger.info(
            "recovered PID directory",
            metadata: [
                LogKey.loaded: "\(loaded)", LogKey.cleaned: "\(cleaned)",
                LogKey.pidDirectory: "\(configuration.pidDirectory)",
                LogKey.elapsed: "\(LogValue.duration(elapsed))",
            ])
        return RecoveryReport(loaded: loaded, cleaned: cleaned, elapsed: elapsed)
    }

    /// Every PID file proven ours is adopted, every stale one removed, each under its target's lock (taken without
    /// waiting: at start nothing else holds it; a target somebody already operates on adopts its own). All are proven
    /// first: a process that two PID files name (a hand registration that picked the wrong PID) belongs to neither
    /// until a job for one of them says so; both files and the process are left alone and reported.
    private func adoptFromPIDDirectory() -> (adopted: Int, removed: Int) {
        var adopted = 0
        var removed = 0
        var verdicts: [(String, IdentityProof.Verdict)] = []
        for targetID in directory.targets() {
            guard TargetID.isValid(targetID) else {
                unlink(pidFilePath(for: targetID))
                removed += 1
                continue
            }
            verdicts.append(
                (
                    targetID,
                    IdentityProof.verify(
                        file: directory.file(for: targetID), targetID: targetID, configuration: configuration)
                ))
        }
        var claims: [Int32: [String]] = [:]
        for (targetID, verdict) in verdicts {
            if case .ours(let handle, _) = verdict { claims[handle.pid, default: []].append(targetID) }
        }
        var explained = 0
        for (targetID, verdict) in verdicts {
            locks.withLockIfFree(targetID) {
                guard tracked(targetID) == nil else { return }
                if case .ours(let handle, let path) = verdict, let others = claims[handle.pid], others.count > 1 {
                    leaveAlone(
                        targetID: targetID, path: path, pid: handle.pid,
                        "PID \(handle.pid) is also named by the PID files of \(others.filter { $0 != targetID }.sorted().joined(separator: ", ")): a process belongs to one target, so none adopts it",
                        key: pidFilePath(for: targetID))
                    return
                }
                // The first hundred are explained one by one; a node with thousands of stale files gets the summary.
                explained += 1
                switch settle(targetID, verdict, quiet: explained > 100) {
                case .adopted: adopted += 1
                case .removed: removed += 1
                case .nothing: break
                }
            }
        }
        return (adopted, removed)
    }

    enum Settled { case adopted, removed, nothing }

    /// Acts on a proof, under the target's lock: adopts what is ours, deletes a stale file, leaves the unproven alone.
    private func settle(_ targetID: String, _ verdict: IdentityProof.Verdict, quiet: Bool) -> Settled {
        let file = directory.file(for: targetID)
        switch verdict {
        case .none:
            return .nothing
        case .stale(let why):
            let removed = file.remove()
            if quiet {
                logger.debug(
                    "cleaned: removed stale PID file",
                    metadata: [LogKey.targetID: "\(targetID)", LogKey.reason: "\(why)"])
            } else {
                logger.info(
                    "cleaned: removed stale PID file",
                    metadata: [LogKey.targetID: "\(targetID)", LogKey.reason: "\(why)"])
                emit(.staleCleaned(targetID: targetID, path: file.path, detail: why))
            }
            return removed ? .removed : .nothing
        case .unproven(let why, let pid, let path):
            leaveAlone(
                targetID: targetID, path: path ?? file.path, pid: pid > 0 ? pid : nil, why, key: file.path)
            return .nothing
        case .ours(let handle, let mountPath):
            if let holder = state.withLock({ s in
                s.processes.values.first { $0.pid == handle.pid && $0.targetID != targetID }
            }) {
                leaveAlone(
                    targetID: targetID, path: mountPath, pid: handle.pid,
                    "PID \(handle.pid) is already tracked as target \(holder.targetID): a process belongs to one target",
                    key: file.path)
                return .nothing
            }
            let record = TrackedProcess(targetID: targetID, mountPath: mountPath, handle: handle, adopted: true)
            track(record)
            state.withLock { _ = $0.leftAlone.removeValue(forKey: file.path) }
            logger.info(
                "adopted",
                metadata: [
                    LogKey.targetID: "\(targetID)", LogKey.pid: "\(handle.pid)", LogKey.mountPath: "\(mountPath)",
                ])
            emit(.adopted(targetID: targetID, pid: handle.pid, mountPath: mountPath))
            return .adopted
        }
    }

    /// Records, logs and announces what is left alone: never unmounted, never signalled, its PID file kept.
    func leaveAlone(targetID: String?, path: String, pid: Int32?, _ why: String, key: String) {
        let entry = NodeStats.LeftAlone(targetID: targetID, path: path, pid: pid, reason: why)
        let isNew = state.withLock { s -> Bool in
            defer { s.leftAlone[key] = entry }
            return s.leftAlone[key] != entry
        }
        guard isNew else { return }
        logger.notice(
            "left alone: live but not proven this agent's; the next job for it decides",
            metadata: [
                LogKey.targetID: "\(targetID ?? "-")", LogKey.path: "\(path)",
                LogKey.pid: "\(pid.map(String.init) ?? "-")",
                LogKey.reason: "\(why)",
            ])
        emit(.leftAlone(targetID: targetID, path: path, detail: why))
    }

    /// Ours but without a PID file: the agent died between spawn and PID-file write. Mounted → adopted (and
    /// the PID file written); not mounted → stopped. Runs before any job, so no target lock is contended.
    private func adoptOrphans() -> (adopted: Int, stopped: Int) {
        var adopted = 0
        var stopped = 0
        let trackedPIDs = state.withLock { Set($0.processes.values.map(\.pid)) }
        let myUID = getuid()
        for pid in ProcFS.allPIDs() where pid != ProcFS.ownPID && !trackedPIDs.contains(pid) {
            guard ownerUID(of: "/proc/\(pid)") == myUID,
                let env = ProcFS.environment(pid: pid), let targetID = env["DMS_TARGET_ID"],
                let path = env["vault_data_directory"], configuration.isBelowMountBase(path),
                TargetID.isValid(targetID), tracked(targetID) == nil,
                case .success(let handle) = ProcessHandle.open(pid: pid),
                ProcFS.isAliveAndNotZombie(pid: pid)
            else { continue }
            let record = TrackedProcess(targetID: targetID, mountPath: path, handle: handle, adopted: true)
            if MountTable.hasFUSEMount(at: path), (try? directory.file(for: targetID).write(pid: pid)) != nil {
                track(record)
                adopted += 1
                emit(.adopted(targetID: targetID, pid: pid, mountPath: path))
            } else {
                _ = try? stopLocked(record, lazyIfBusy: true)
                stopped += 1
                emit(
                    .staleCleaned(
                        targetID: targetID, path: path,
                        detail: "orphan process \(pid) without PID file or mount stopped"))
            }
        }
        return (adopted, stopped)
    }

    /// FUSE mounts below the mount base that no live process of ours serves: cleared only when dead (their server
    /// gone); a live one is left alone and reported, whoever serves it.
    private func clearUnservedMounts() -> Int {
        let served = state.withLock { Set($0.processes.values.filter { !$0.handle.hasExited }.map(\.mountPath)) }
        var cleared = 0
        for entry in MountTable.read()
        where entry.isFUSE && configuration.isBelowMountBase(entry.mountPoint) && !served.contains(entry.mountPoint) {
            switch MountLiveness.probe(entry) {
            case .dead(let why):
                let outcome = Unmounter.clearStale(entry.mountPoint)
                cleared += 1
                logger.info(
                    "cleaned: dead FUSE mount", metadata: [LogKey.path: "\(entry.mountPoint)", LogKey.reason: "\(why)"])
                emit(
                    .staleCleaned(
                        targetID: nil, path: entry.mountPoint,
                        detail: "FUSE mount without a live server unmounted (\(why); \(outcome))"))
            case .live(let why):
                let known = state.withLock { s in s.leftAlone.values.first { $0.path == entry.mountPoint } }
                leaveAlone(
                    targetID: known?.targetID, path: entry.mountPoint, pid: known?.pid,
                    "a live FUSE mount that no process proven this agent's serves (\(why))"
                        + (known.map { "; \($0.reason)" } ?? ""),
                    key: entry.mountPoint)
            }
        }
        return cleared
    }

    /// Reads and proves a PID file; call under the target's lock. Returns the tracked record if the process is ours;
    /// deletes the file (never signalling its PID) when stale; leaves the unproven alone. With `servingPath` (a job's
    /// path), a process proven ours that serves another path is not adopted: `conflict`, and nothing is touched.
    func adoptFromPIDFile(_ targetID: String, servingPath: String? = nil) throws(VaultFuseError) -> TrackedProcess? {
        let verdict = IdentityProof.verify(
            file: directory.file(for: targetID), targetID: targetID, configuration: configuration)
        if let servingPath, case .ours(let handle, let path) = verdict, path != servingPath {
            leaveAlone(
                targetID: targetID, path: path, pid: handle.pid,
                "its PID file names PID \(handle.pid), which serves \(path), not this target's \(servingPath)",
                key: pidFilePath(for: targetID))
            throw VaultFuseError(
                .conflict,
                "Target \(targetID)'s PID file names PID \(handle.pid), which serves \(path), not \(servingPath); nothing was stopped or started"
            )
        }
        return settle(targetID, verdict, quiet: false) == .adopted ? tracked(targetID) : nil
    }
}
