import CLinuxProcess
import FoundationEssentials
import Glibc
import LinuxSupport
import Synchronization

/// One thread, one epoll set, every tracked process's pidfd: an exit wakes it at once, no polling,
/// and a thousand targets cost one thread.
final class ExitWatcher: Sendable {
    typealias Callback = @Sendable () -> Void

    private let epollFD: Int32
    private let wakeFD: Int32
    private let callbacks = CallbackTable()
    private let nextToken = Atomic<UInt64>(1)

    init() {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = 0
        epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event)
        OSThread.detach(name: "vf.exit-watcher", stackSize: 256 * 1024) { [epollFD, wakeFD, callbacks] in
            ExitWatcher.loop(epollFD: epollFD, wakeFD: wakeFD, callbacks: callbacks)
        }
    }

    /// Stops the thread. Processes are not touched. The eventfd and the pidfds carry no data: the callbacks
    /// travel under `callbacks`' pthread lock, which ThreadSanitizer sees, so no __tsan annotation is needed.
    func shutdown() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Calls `callback` once, on the watcher thread, when the process exits.
    @discardableResult
    func watch(_ handle: ProcessHandle, callback: @escaping Callback) -> UInt64 {
        let token = nextToken.wrappingAdd(1, ordering: .relaxed).oldValue
        callbacks.entries.withLock { $0[token] = (handle, callback) }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLONESHOT.rawValue
        event.data.u64 = token
        if epoll_ctl(epollFD, EPOLL_CTL_ADD, handle.pidfd, &event) != 0 {
            // Already exited or invalid: report the exit right away.
            if let entry = callbacks.entries.withLock({ $0.removeValue(forKey: token) }) { entry.callback() }
        }
        return token
    }

    func unwatch(_ token: UInt64) {
        if let entry = callbacks.entries.withLock({ $0.removeValue(forKey: token) }) {
            epoll_ctl(epollFD, EPOLL_CTL_DEL, entry.handle.pidfd, nil)
        }
    }

    private static func loop(
        epollFD: Int32, wakeFD: Int32,
        callbacks: CallbackTable
    ) {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        outer: while true {
            let n = events.withUnsafeMutableBufferPointer { epoll_wait(epollFD, $0.baseAddress, 64, -1) }
            if n < 0 {
                if errno == EINTR { continue }
                break
            }
            for i in 0..<Int(n) {
                let token = events[i].data.u64
                if token == 0 { break outer }
                if let entry = callbacks.entries.withLock({ $0.removeValue(forKey: token) }) {
                    epoll_ctl(epollFD, EPOLL_CTL_DEL, entry.handle.pidfd, nil)
                    entry.callback()
                }
            }
        }
        close(epollFD)
        close(wakeFD)
    }
}
