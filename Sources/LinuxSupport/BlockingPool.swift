import Glibc

/// The blocking pool: threads for work that may block (a stat of a path served by a hung FUSE process, a read of
/// /proc, a wait for a child), so it never holds a thread of the cooperative pool. Every job gets a thread when none
/// is idle (Dispatch's concurrent queues are width-limited on Linux, so a few slow mounts would starve every other
/// target): a hung operation holds one thread, never the others' turn. Idle threads are kept for reuse (a fresh
/// thread costs a clone and a cold wake-up).
package enum BlockingPool {
    /// The pool as a `TaskExecutor`: a task that prefers it runs every nonisolated async function it calls on these
    /// threads, however deep the blocking call sits.
    package static let executor = Executor()

    /// Runs `body` with the pool as its preferred executor.
    package static func run<T: Sendable, E: Error>(_ body: () async throws(E) -> T) async throws(E) -> T {
        try await withTaskExecutorPreference(executor, operation: body)
    }

    package final class Executor: TaskExecutor {
        fileprivate init() {}

        package func enqueue(_ job: consuming ExecutorJob) {
            let job = UnownedJob(job)
            let executor = asUnownedTaskExecutor()
            Threads.shared.submit { job.runSynchronously(on: executor) }
        }
    }

    private final class Threads: @unchecked Sendable {
        static let shared = Threads()

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
                    let woke = condition.wait(for: .seconds(60))
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
}
