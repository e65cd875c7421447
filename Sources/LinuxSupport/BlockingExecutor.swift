import Glibc

/// The blocking pool as a `TaskExecutor`: a task that prefers it (`withTaskExecutorPreference(BlockingExecutor.shared)`)
/// runs every nonisolated async function it calls on these threads, so a whole operation that may block (a stat
/// of a path served by a hung FUSE process, a read of /proc, a wait for a child) stays off the cooperative pool
/// however deep the blocking call sits. Every job gets a thread when none is idle: a hung operation holds one
/// thread, never the others' turn.
package final class BlockingExecutor: TaskExecutor {
    package static let shared = BlockingExecutor()

    private init() {}

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        BlockingThreads.shared.submit { job.runSynchronously(on: executor) }
    }
}
