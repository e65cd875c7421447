import Foundation
import LinuxSupport
import Testing

@testable import DMSAgentCore

/// The per-target FIFO the order invariant rests on.
@Suite(.timeLimit(.minutes(1))) struct JobSchedulerTests {
    @Test func oneKeysJobsRunInSubmissionOrderOneAtATime() async {
        let scheduler = JobScheduler()
        let log = Locked((order: [Int](), running: 0, overlapped: false))
        for i in 0..<200 {
            scheduler.submit(key: "target") {
                log.withLock {
                    $0.running += 1
                    if $0.running > 1 { $0.overlapped = true }
                }
                if i % 7 == 0 { try? await Task.sleep(for: .milliseconds(1)) }
                log.withLock {
                    $0.order.append(i)
                    $0.running -= 1
                }
            }
        }
        #expect(await scheduler.waitUntilIdle(within: .seconds(30)))
        let result = log.withLock { $0 }
        #expect(result.order == Array(0..<200))
        #expect(!result.overlapped)
        #expect(scheduler.inFlight == 0)
    }

    /// Given the blocking pool, a job runs there from its first step to its last, across its suspensions.
    @Test func aRunnerStaysOnItsExecutorAcrossSuspensions() async {
        let scheduler = JobScheduler(executor: BlockingPool.executor)
        let threads = Locked([String]())
        @Sendable func record() {
            let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "?"
            threads.withLock { $0.append(name.trimmingCharacters(in: .newlines)) }
        }
        for _ in 0..<3 {
            scheduler.submit(key: "target") {
                record()
                try? await Task.sleep(for: .milliseconds(1))
                record()
                await Task.yield()
                record()
            }
        }
        #expect(await scheduler.waitUntilIdle(within: .seconds(30)))
        #expect(threads.withLock { $0 } == Array(repeating: "blocking", count: 9))
    }

    @Test func differentKeysRunInParallel() async {
        let scheduler = JobScheduler()
        // Each key's job waits for the other's: a scheduler that serialized keys would never finish.
        let arrived = Locked(Set<String>())
        for key in ["a", "b"] {
            scheduler.submit(key: key) {
                arrived.withLock { _ = $0.insert(key) }
                while arrived.withLock({ $0.count }) < 2 { try? await Task.sleep(for: .milliseconds(1)) }
            }
        }
        #expect(await scheduler.waitUntilIdle(within: .seconds(10)))
    }

    @Test func aCancelledRunnerStillRunsItsQueue() async {
        let scheduler = JobScheduler()
        let ran = Locked([String]())
        scheduler.submit(key: "t") {
            withUnsafeCurrentTask { $0?.cancel() }
            ran.withLock { $0.append("first") }
        }
        scheduler.submit(key: "t") { ran.withLock { $0.append("second (cancelled: \(Task.isCancelled))") } }
        #expect(await scheduler.waitUntilIdle(within: .seconds(10)))
        #expect(ran.withLock { $0 } == ["first", "second (cancelled: true)"], "a cancelled runner drops nothing")
    }

    @Test func waitingGivesUpAfterTheGraceAndWhenCancelled() async {
        let scheduler = JobScheduler()
        let release = Locked(false)
        scheduler.submit(key: "slow") {
            while !release.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(await !scheduler.waitUntilIdle(within: .milliseconds(50)))
        let waiter = Task { await scheduler.waitUntilIdle() }
        waiter.cancel()
        await waiter.value
        #expect(scheduler.inFlight == 1, "the job is still running; only the wait ended")
        release.withLock { $0 = true }
        #expect(await scheduler.waitUntilIdle(within: .seconds(10)))
    }
}
