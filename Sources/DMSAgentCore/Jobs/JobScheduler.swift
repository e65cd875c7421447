import LinuxSupport

/// Runs jobs for one key (a target) strictly in submission order and jobs for different keys in
/// parallel. Submission is synchronous, so the order is the order of arrival from the queue.
final class JobScheduler: Sendable {
    typealias Job = @Sendable () async -> Void

    private struct State {
        var queues: [String: [Job]] = [:]
        var inFlight = 0
        var idleWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
        /// Until `release`, jobs queue and no runner starts: the keys that will need one, in submission order.
        var held: [String]?
    }

    private let state = Locked(State())
    /// Where the runners run: every async function a job calls prefers it (nil: the global executor).
    private let executor: (any TaskExecutor)?

    /// `held`: jobs queue in order but none runs until `release` (the agent takes jobs while it recovers).
    init(executor: (any TaskExecutor)? = nil, held: Bool = false) {
        self.executor = executor
        if held { state.withLock { $0.held = [] } }
    }

    /// Starts the runners of every job submitted while held; later submissions run at once.
    func release() {
        let keys = state.withLock { s -> [String] in
            defer { s.held = nil }
            return s.held ?? []
        }
        for key in keys { Task(executorPreference: executor) { await self.drain(key) } }
    }

    func submit(key: String, _ job: @escaping Job) {
        let startRunner = state.withLock { s -> Bool in
            s.inFlight += 1
            if s.queues[key] != nil {
                s.queues[key]!.append(job)
                return false
            }
            s.queues[key] = [job]
            if s.held != nil {
                s.held!.append(key)
                return false
            }
            return true
        }
        if startRunner { Task(executorPreference: executor) { await self.drain(key) } }
    }

    /// The one runner of `key`: it owns the queue until it leaves it empty, under the same lock that
    /// lets `submit` decide whether a new runner is needed.
    private func drain(_ key: String) async {
        var job = state.withLock { s in s.queues[key]!.first! }
        while true {
            await job()
            let (next, waiters) = state.withLock {
                s -> (Job?, Dictionary<UInt64, CheckedContinuation<Void, Never>>.Values) in
                s.queues[key]!.removeFirst()
                let next = s.queues[key]!.first
                if next == nil { s.queues[key] = nil }
                s.inFlight -= 1
                guard s.inFlight == 0 else { return (next, [:].values) }
                defer { s.idleWaiters = [:] }
                return (next, s.idleWaiters.values)
            }
            waiters.forEach { $0.resume() }
            guard let next else { return }
            job = next
        }
    }

    var inFlight: Int { state.withLock { $0.inFlight } }

    /// True when no job is queued or running within `grace`; false when they are not done by then.
    func waitUntilIdle(within grace: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.waitUntilIdle()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: grace)
                return false
            }
            defer { group.cancelAll() }
            return await group.next()!
        }
    }

    /// Returns when no job is queued or running, or when the task is cancelled.
    func waitUntilIdle() async {
        let id = state.withLock { s in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let idle = state.withLock { s -> Bool in
                    if s.inFlight == 0 || Task.isCancelled { return true }
                    s.idleWaiters[id] = c
                    return false
                }
                if idle { c.resume() }
            }
        } onCancel: {
            state.withLock { $0.idleWaiters.removeValue(forKey: id) }?.resume()
        }
    }
}
