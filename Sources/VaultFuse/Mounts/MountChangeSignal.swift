import CLinuxProcess
import FoundationEssentials
import Glibc

/// A file descriptor on `/proc/self/mountinfo` whose poll(2) reports POLLPRI whenever the mount table
/// changes: readiness waits on it instead of sleeping.
final class MountChangeSignal: Sendable {
    let fd: Int32

    init() {
        fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)
        drain()
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Consumes a pending change notification without blocking.
    func drain() {
        guard fd >= 0 else { return }
        var pfd = pollfd(fd: fd, events: Int16(POLLPRI), revents: 0)
        _ = poll(&pfd, 1, 0)
    }
}
