import Glibc
import LinuxSupport

/// How a FUSE process is stopped, as data: unmount (so the file system flushes and exits by itself), wait the
/// grace period, SIGTERM, wait, SIGKILL, wait; then reap, and clear a mount a signalled process may have
/// left (ENOTCONN). The steps stop as soon as the process is gone. Blocks its thread.
struct StopSequence: Equatable, Sendable {
    enum Step: Equatable, Sendable {
        case unmount
        case awaitExit(Duration)
        case signal(Int32)
    }

    let steps: [Step]

    static func standard(grace: Duration) -> StopSequence {
        StopSequence(steps: [
            .unmount, .awaitExit(grace), .signal(SIGTERM), .awaitExit(max(grace, .milliseconds(100))),
            .signal(SIGKILL), .awaitExit(.seconds(5)),
        ])
    }

    /// Runs the steps against `handle` serving `path`. A busy mount fails with `unmount_busy` (nothing
    /// signalled) unless `lazyIfBusy`, which detaches it and goes on.
    func run(_ handle: ProcessHandle, path: String, lazyIfBusy: Bool) -> Result<Void, VaultFuseError> {
        var mountMayRemain = false
        var nothingToFlush = false
        steps: for step in steps {
            switch step {
            case .unmount:
                // umount(2) itself says whether anything was mounted (EINVAL): no mount-table read needed.
                switch Unmounter.unmount(path) {
                case .busy:
                    if !lazyIfBusy { return .failure(VaultFuseError(.unmountBusy, "Unmount failed: \(path) is busy")) }
                    _ = Unmounter.unmount(path, lazy: true)
                case .notMounted:
                    nothingToFlush = true
                case .failed:
                    mountMayRemain = true
                case .unmounted:
                    break
                }
            case .awaitExit(let duration):
                // With nothing mounted there is nothing to flush: no reason to wait before the first signal.
                let milliseconds = Int32(clamping: duration.milliseconds)
                if handle.waitForExit(timeoutMilliseconds: nothingToFlush ? 0 : milliseconds) { break steps }
                nothingToFlush = false
            case .signal(let number):
                handle.signal(number)
                mountMayRemain = true
            }
        }
        handle.reap()
        if mountMayRemain { _ = Unmounter.clearStale(path) }
        return .success(())
    }
}
