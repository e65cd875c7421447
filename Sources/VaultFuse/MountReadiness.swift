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
        let parent = parentDirectory(of: path)
        while true {
            // Every mount-table change on the node wakes every waiter; a cached statx of the path and its
            // parent (no FUSE request) says whether anything is mounted here before reading the table.
            if mightBeMountPoint(path, parent: parent), MountTable.fuseMount(at: path) != nil { return .mounted }
            if handle.hasExited { return MountTable.fuseMount(at: path) != nil ? .mounted : .exited }
            if deadline.hasPassed { return .timedOut }
            let rc = poll(&fds, 2, deadline.remainingMilliseconds)
            if rc < 0 && errno != EINTR { return .timedOut }
        }
    }

    static func mightBeMountPoint(_ path: String, parent: String) -> Bool {
        var a: (UInt32, UInt32) = (0, 0)
        var b: (UInt32, UInt32) = (0, 0)
        guard dms_cached_device(path, &a.0, &a.1) == 0, dms_cached_device(parent, &b.0, &b.1) == 0 else { return true }
        return a != b
    }
}
