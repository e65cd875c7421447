import CLinuxProcess
import Glibc
import LinuxSupport

/// The PID directory: one `<target_id>.pid` per tracked process, and a lock file a running manager holds
/// (flock), so two agents never manage one directory.
struct PIDDirectory: Sendable {
    let path: String
    /// False on tmpfs (`/run/dms/s3`, the default): a reboot empties it anyway, so its PID files are written
    /// atomically (temp file, rename) without fsync. Elsewhere each write is fsynced, then its directory.
    let durable: Bool

    /// `path` must exist: whether it is tmpfs is read once, here.
    init(path: String) {
        self.path = path
        durable = dms_is_tmpfs(path) != 1
    }

    func file(for targetID: String) -> PIDFile { PIDFile(path: filePath(for: targetID), durable: durable) }
    func filePath(for targetID: String) -> String { "\(path)/\(targetID).pid" }
    /// The target ids of every PID file, valid or not.
    func targets() -> [String] { PIDFile.targets(in: path) }

    /// Opens and locks `.dms-agent.lock`; the descriptor is the lock.
    func lock() throws(VaultFuseError) -> Int32 {
        let lockPath = path + "/.dms-agent.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        if fd < 0 { throw VaultFuseError(.io, "Cannot open lock file \(lockPath): \(Errno.current)") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw VaultFuseError(
                .lockHeld, "Another dms-agent already manages \(path) (lock \(lockPath) is held); refusing to start")
        }
        return fd
    }
}
