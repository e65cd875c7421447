import CLinuxProcess
import FoundationEssentials
import Glibc
import LinuxSupport

/// A process pinned by a pidfd: signals reach exactly this process even if its PID is recycled.
package final class ProcessHandle: Sendable {
    package let pid: Int32
    let pidfd: Int32

    private init(pid: Int32, pidfd: Int32) {
        self.pid = pid
        self.pidfd = pidfd
    }

    deinit { close(pidfd) }

    static func open(pid: Int32) -> Result<ProcessHandle, Errno> {
        let fd = dms_pidfd_open(pid)
        if fd < 0 { return .failure(.current) }
        // pidfd_open(2) always returns the descriptor close-on-exec: no child inherits it.
        return .success(ProcessHandle(pid: pid, pidfd: fd))
    }

    /// The process has exited (a zombie counts as exited).
    package var hasExited: Bool {
        var pfd = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        return poll(&pfd, 1, 0) > 0
    }

    @discardableResult
    func signal(_ sig: Int32) -> Bool { dms_pidfd_send_signal(pidfd, sig) == 0 }

    /// Blocks until the process exits or the timeout passes; true when it exited.
    func waitForExit(timeoutMilliseconds: Int32) -> Bool {
        let deadline = Deadline(after: .milliseconds(timeoutMilliseconds))
        var pfd = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        while true {
            let rc = poll(&pfd, 1, deadline.remainingMilliseconds)
            if rc > 0 { return true }
            if rc == 0 { return false }
            if errno != EINTR { return hasExited }
        }
    }

    /// Reaps the process if it is our child and has exited. For an adopted process this is usually a
    /// no-op (ECHILD: init reaps it), unless this very agent process started it.
    @discardableResult
    func reap() -> TerminationStatus? {
        var code: Int32 = 0
        var status: Int32 = 0
        if dms_reap_pidfd(pidfd, &code, &status) == 1 {
            return TerminationStatus(siCode: code, status: status)
        }
        return nil
    }
}
