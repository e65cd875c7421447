import CLinuxProcess
import Glibc
import LinuxSupport

/// Whether the process a PID file names is the one we started: the only way a PID read from disk is ever
/// trusted with a signal.
enum IdentityProof {
    enum Verdict {
        case none
        case stale(String)
        case ours(ProcessHandle, mountPath: String)
    }

    /// Regular file owned by root or us; a live, non-zombie process of our uid that started no later than the
    /// file was written; whose environment names this target (or, for an older agent's process, whose command
    /// line runs the configured binary). The pidfd is opened first, so once the proof passes and the pidfd
    /// still shows the process alive, it pins that very process.
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
        guard started <= written + configuration.pidFileStartSlack.seconds else {
            return .stale("PID \(pid) started after its PID file was written (recycled PID)")
        }
        guard ownerUID(of: "/proc/\(pid)") == getuid() else {
            return .stale("PID \(pid) runs as another user")
        }
        let env = ProcFS.environment(pid: pid) ?? [:]
        if env["DMS_TARGET_ID"] != targetID {
            let cmdline = ProcFS.nulSeparated(pid: pid, "cmdline") ?? []
            let runsBinary = cmdline.prefix(2).contains(configuration.binary)
            guard env["DMS_TARGET_ID"] == nil, runsBinary else {
                return .stale("PID \(pid) is not this target's s3vaultfuse")
            }
        }
        guard let path = env["vault_data_directory"],
            (try? MountPathPolicy.normalize(path, bases: configuration.mountBases))?.path == path
        else {
            return .stale("PID \(pid) serves no mount path under the mount base")
        }
        guard !handle.hasExited else { return .stale("PID \(pid) exited during the check") }
        return .ours(handle, mountPath: path)
    }
}
