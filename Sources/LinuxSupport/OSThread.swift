#if canImport(Glibc)
    import Glibc
#endif

/// Detached POSIX threads for work that blocks (syscalls, C libraries that own a socket), so it never runs
/// on Swift's cooperative pool. A thin layer over pthreads: Foundation's `Thread` would pull in
/// libFoundation and ICU, a quarter of the agent's resident memory.
public enum OSThread {
    private final class Box {
        let name: String
        let body: () -> Void
        init(_ name: String, _ body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Starts `body` on a new detached thread. `name` (≤ 15 bytes shown) appears in `ps -L` and `top -H`.
    public static func detach(name: String, stackSize: Int = 512 * 1024, _ body: @escaping @Sendable () -> Void) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        pthread_attr_setstacksize(&attributes, max(stackSize, 64 * 1024))
        let context = Unmanaged.passRetained(Box(name, body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, &attributes,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                // pthread_setname_np needs _GNU_SOURCE; the comm file of the thread does the same.
                let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
                if fd >= 0 {
                    let bytes = Array(box.name.utf8.prefix(15))
                    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                    close(fd)
                }
                box.body()
                return nil
            }, context)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(context).release()
            fatalError("pthread_create failed: \(rc)")
        }
    }
}

extension OSThread {
    /// Runs `body` on a blocking thread and returns its result: every waiting operation gets a thread of its
    /// own (Dispatch's concurrent queues are width-limited on Linux, so a few slow mounts would starve every
    /// other target), and idle threads are kept for reuse (a fresh thread costs a clone and a cold wake-up).
    public static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            BlockingThreads.shared.submit { continuation.resume(returning: body()) }
        }
    }
}

/// The blocking pool as a `TaskExecutor`: a task that prefers it (`withTaskExecutorPreference(BlockingExecutor.shared)`)
/// runs every nonisolated async function it calls on these threads, so a whole operation that may block (a stat
/// of a path served by a hung FUSE process, a read of /proc, a wait for a child) stays off the cooperative pool
/// however deep the blocking call sits. Every job gets a thread when none is idle: a hung operation holds one
/// thread, never the others' turn.
public final class BlockingExecutor: TaskExecutor {
    public static let shared = BlockingExecutor()

    private init() {}

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        BlockingThreads.shared.submit { job.runSynchronously(on: executor) }
    }
}

extension OSThread {
    /// Runs `body` with the blocking pool as its preferred executor (see `BlockingExecutor`).
    public static func blocking<T: Sendable, E: Error>(_ body: () async throws(E) -> T) async throws(E) -> T {
        try await withTaskExecutorPreference(BlockingExecutor.shared, operation: body)
    }
}

private final class BlockingThreads: @unchecked Sendable {
    static let shared = BlockingThreads()

    private let condition = ThreadCondition()
    private var queue: [() -> Void] = []
    private var idle = 0
    /// Idle threads beyond this many exit.
    private let keepIdle = 16

    func submit(_ work: @escaping () -> Void) {
        condition.lock()
        queue.append(work)
        let spawn = idle < queue.count
        if !spawn { condition.signal() }
        condition.unlock()
        if spawn {
            OSThread.detach(name: "blocking", stackSize: 256 * 1024) { [self] in loop() }
        }
    }

    private func loop() {
        condition.lock()
        while true {
            while queue.isEmpty {
                if idle >= keepIdle {
                    condition.unlock()
                    return
                }
                idle += 1
                let woke = condition.wait(seconds: 60)
                idle -= 1
                if !woke && queue.isEmpty {
                    condition.unlock()
                    return
                }
            }
            let work = queue.removeFirst()
            condition.unlock()
            work()
            condition.lock()
        }
    }
}

/// A mutex with a condition variable, for the few places that must block a thread (not a task).
public final class ThreadCondition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    public func signal() { pthread_cond_signal(condition) }

    /// Waits (the lock held) until signalled or `seconds` pass; false on timeout.
    public func wait(seconds: Double) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let total = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 + seconds
        var deadline = timespec(tv_sec: Int(total), tv_nsec: Int((total - Double(Int(total))) * 1e9))
        return pthread_cond_timedwait(condition, mutex, &deadline) == 0
    }
}
