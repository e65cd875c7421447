import CLinuxProcess
import Glibc
import LinuxSupport

/// Whether the process a PID file names is the one this target's s3vaultfuse: the only way a PID read from disk is
/// ever trusted with a signal. Identity comes from what the process serves, not from how it was started.
enum IdentityProof {
    enum Verdict {
        case none
        /// Nothing live stands behind the file: it may be deleted.
        case stale(String)
        /// A live process that serves a path below the mount base but cannot be proven this agent's to stop (its
        /// owner, or the file's, is not adoptable): the file and the process are left alone and reported.
        case unproven(String, pid: Int32, mountPath: String?)
        case ours(ProcessHandle, mountPath: String)
    }

    /// The PID file is a regular file owned by root, us or an adoptable user; its process is live, not a zombie,
    /// started no later than the file was written, runs as one of those users, is this target's s3vaultfuse (its
    /// environment names the target, or, for a process the Python server or an older agent started, the configured
    /// binary is anywhere in its argv: behind any interpreter, its options or `env`), and serves a path below the
    /// mount base. The pidfd is opened first, so once the proof passes and the pidfd still shows the process alive,
    /// it pins that very process.
    static func verify(file: PIDFile, targetID: String, configuration: VaultFuseConfiguration) -> Verdict {
        let owners = configuration.allowedOwners
        let contents: PIDFile.Contents
        switch file.read(allowedOwners: owners) {
        case .failure(.missing): return .none
        case .failure(.foreignOwner(let uid)):
            // Not ours to trust or to delete: whoever owns it may still run what it names.
            let pid = file.read(allowedOwners: [uid]).map(\.pid)
            return .unproven(
                "its PID file is owned by uid \(uid), not an adoptable user (adopt_users)", pid: (try? pid.get()) ?? 0,
                mountPath: nil)
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
        guard started <= written + configuration.pidFileStartSlack.seconds else {
            return .stale("PID \(pid) started after its PID file was written (recycled PID)")
        }
        let env = ProcFS.environment(pid: pid) ?? [:]
        let path = env["vault_data_directory"].flatMap {
            (try? MountPathPolicy.normalize($0, bases: configuration.mountBases))?.path == $0 ? $0 : nil
        }
        guard let path else { return .stale("PID \(pid) serves no mount path under the mount base") }
        if env["DMS_TARGET_ID"] != targetID {
            guard env["DMS_TARGET_ID"] == nil, runsBinary(pid: pid, configuration.binary) else {
                return .stale("PID \(pid) is not this target's s3vaultfuse")
            }
        }
        guard let owner = ownerUID(of: "/proc/\(pid)") else { return .stale("PID \(pid) is gone") }
        guard owners.contains(owner) else {
            return .unproven(
                "PID \(pid) runs as uid \(owner), not root, the agent or an adoptable user (adopt_users)", pid: pid,
                mountPath: path)
        }
        guard !handle.hasExited else { return .stale("PID \(pid) exited during the check") }
        return .ours(handle, mountPath: path)
    }

    /// The configured binary anywhere in argv (`python3 -s /usr/bin/s3vaultfuse.py`, `env …`, platform-python),
    /// by the path as given or as it resolves.
    static func runsBinary(pid: Int32, _ binary: String) -> Bool {
        let argv = ProcFS.nulSeparated(pid: pid, "cmdline") ?? []
        if argv.contains(binary) { return true }
        guard let resolved = realpath(binary, nil) else { return false }
        defer { free(resolved) }
        return argv.contains(String(cString: resolved))
    }
}
