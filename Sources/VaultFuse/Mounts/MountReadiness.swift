import CLinuxProcess
import Glibc
import LinuxSupport

/// Waits, without sleeping, until a FUSE process has mounted its path: poll(2) on the mount table's change
/// signal (POLLPRI on /proc/self/mountinfo) and on the process's pidfd. Blocks its thread.
enum MountReadiness {
    enum Outcome: Sendable { case mounted, exited, timedOut }

    static func await(_ handle: ProcessHandle, path: String, signal: MountChangeSignal, deadline: Deadline) -> Outcome {
        var fds = [
            pollfd(fd: signal.fd, events: Int16(POLLPRI), revents: 0),
            pollfd(fd: handle.pidfd, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            // Every mount-table change on the node wakes every waiter; `hasFUSEMount(at:)` asks the kernel about the
            // one mount at the path (statx, then statmount), so a waiter pays a syscall or two and reads the table
            // only where the kernel cannot say (before Linux 6.8, a disconnected mount).
            if MountTable.hasFUSEMount(at: path) { return .mounted }
            if handle.hasExited { return MountTable.hasFUSEMount(at: path) ? .mounted : .exited }
            if deadline.hasPassed { return .timedOut }
            let rc = poll(&fds, 2, deadline.remainingMilliseconds)
            if rc < 0 && errno != EINTR { return .timedOut }
        }
    }
}
