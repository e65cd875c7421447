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
            // Every mount-table change on the node wakes every waiter; `fuseMount(at:)` asks statx whether the
            // path is a mount root before it reads the table, so a waiter whose path did not change pays one syscall.
            if MountTable.fuseMount(at: path) != nil { return .mounted }
            if handle.hasExited { return MountTable.fuseMount(at: path) != nil ? .mounted : .exited }
            if deadline.hasPassed { return .timedOut }
            let rc = poll(&fds, 2, deadline.remainingMilliseconds)
            if rc < 0 && errno != EINTR { return .timedOut }
        }
    }
}
