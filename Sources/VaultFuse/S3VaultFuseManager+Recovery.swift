import CLinuxProcess
import Glibc
import LinuxSupport

// Start-up: adopt what the PID directory proves ours, clean the rest. Adoption (here and on demand) happens
// only under the target's lock.
extension S3VaultFuseManager {
    /// Adopts every live process proven ours from the PID directory (and any of ours that lost its PID
    /// file), deletes stale PID files, and unmounts FUSE mounts under the mount base that nobody serves.
    public func recover() async -> RecoveryReport {
        let start = monotonicNanos()
        var (loaded, cleaned) = await OSThread.blocking { adoptFromPIDDirectory() }
        let (orphansAdopted, orphansStopped) = await OSThread.blocking { adoptOrphans() }
        loaded += orphansAdopted
        cleaned += orphansStopped
        if cleaned > 0 {
            emit(
                .staleCleaned(
                    targetID: nil, path: configuration.pidDirectory,
                    detail: "\(cleaned) stale PID files removed at start"))
        }
        cleaned += await OSThread.blocking { clearUnservedMounts() }
        let seconds = Double(monotonicNanos() - start) / 1e9
        logger.info(
            "recovered PID directory",
            metadata: [
                "loaded": "\(loaded)", "cleaned": "\(cleaned)", "pid_dir": "\(configuration.pidDirectory)",
                "seconds": "\(seconds)",
            ])
        return RecoveryReport(loaded: loaded, cleaned: cleaned, seconds: seconds)
    }

    /// Every PID file proven ours is adopted, every stale one removed, each under its target's lock (taken without
    /// waiting: at start nothing else holds it; a target somebody already operates on adopts its own).
    private func adoptFromPIDDirectory() -> (adopted: Int, removed: Int) {
        var adopted = 0
        var removed = 0
        for targetID in directory.targets() {
            guard TargetID.isValid(targetID) else {
                unlink(pidFilePath(for: targetID))
                removed += 1
                continue
            }
            locks.withLockIfFree(targetID) {
                guard tracked(targetID) == nil else { return }
                var stale = false
                if adoptFromPIDFile(targetID, removedStale: &stale, quiet: true) != nil {
                    adopted += 1
                } else if stale {
                    removed += 1
                }
            }
        }
        return (adopted, removed)
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

    /// FUSE mounts below the mount base that no live process of ours serves.
    private func clearUnservedMounts() -> Int {
        let served = state.withLock { Set($0.processes.values.filter { !$0.handle.hasExited }.map(\.mountPath)) }
        var cleared = 0
        for entry in MountTable.read()
        where entry.isFUSE && configuration.isBelowMountBase(entry.mountPoint) && !served.contains(entry.mountPoint) {
            let outcome = Unmounter.clearStale(entry.mountPoint)
            cleared += 1
            emit(
                .staleCleaned(
                    targetID: nil, path: entry.mountPoint,
                    detail: "FUSE mount without a live server unmounted (\(outcome))"))
        }
        return cleared
    }

    /// Reads and proves a PID file; call under the target's lock. Returns the tracked record if the process
    /// is ours; deletes the file (never signalling its PID) otherwise.
    func adoptFromPIDFile(_ targetID: String) -> TrackedProcess? {
        var removed = false
        return adoptFromPIDFile(targetID, removedStale: &removed)
    }

    /// `quiet`: recovery reports stale files in one summary instead of one log line and event each
    /// (a node with thousands of stale files must not flood the log and the broker at start).
    private func adoptFromPIDFile(_ targetID: String, removedStale: inout Bool, quiet: Bool = false) -> TrackedProcess?
    {
        let file = directory.file(for: targetID)
        switch IdentityProof.verify(file: file, targetID: targetID, configuration: configuration) {
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
            logger.info(
                "adopted", metadata: ["target_id": "\(targetID)", "pid": "\(handle.pid)", "mount_path": "\(mountPath)"])
            emit(.adopted(targetID: targetID, pid: handle.pid, mountPath: mountPath))
            return record
        }
    }
}
