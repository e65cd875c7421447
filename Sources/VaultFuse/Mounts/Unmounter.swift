import CLinuxProcess
import FoundationEssentials
import Glibc
import LinuxSupport

enum Unmounter {
    enum Outcome: Equatable, Sendable {
        case unmounted
        case notMounted
        case busy
        case failed(String)
    }

    /// umount(2) as root; `fusermount3 -u` for an unprivileged agent. `lazy` detaches a busy mount.
    static func unmount(_ path: String, lazy: Bool = false) -> Outcome {
        if umount2(path, lazy ? Int32(MNT_DETACH) : 0) == 0 { return .unmounted }
        let err = errno
        switch err {
        case EINVAL, ENOENT: return .notMounted
        case EBUSY: return .busy
        case EPERM:
            let args = lazy ? ["-u", "-z", path] : ["-u", path]
            // fusermount3 talks to the kernel only, but a helper never runs without a deadline.
            let status = CommandRunner.run("/usr/bin/fusermount3", args, deadline: .seconds(30)).status
            if status == 0 { return .unmounted }
            if MountTable.mount(at: path) == nil { return .notMounted }
            // Name what refused it when the service's sandbox did (a seccomp filter, a bounding set).
            return .failed("umount(2) refused, fusermount3 exited with \(status)\(SandboxProbe.explanation())")
        default:
            return .failed(String(cString: strerror(err)))
        }
    }

    /// A stale mount: its FUSE server is gone (ENOTCONN) or nobody serves it. Unmount, lazily if busy.
    static func clearStale(_ path: String) -> Outcome {
        switch unmount(path) {
        case .busy: return unmount(path, lazy: true)
        case let other: return other
        }
    }

    /// True when a stat of the path fails the way a mount without a live server does.
    static func isDisconnected(_ path: String) -> Bool {
        var st = stat()
        if stat(path, &st) == 0 { return false }
        return errno == ENOTCONN || errno == ECONNABORTED
    }
}
