import CoreMetrics
import DMSWire
import LinuxSupport
import VaultFuse

/// The agent's metrics through swift-metrics; whichever backend is bootstrapped (Prometheus in
/// `dms-agent run`) exports them. Gauges are refreshed when scraped.
final class AgentMetrics: Sendable {
    private let jobs = InFlightTracker()
    private let registered = Locked(false)
    /// One timer per stage, made once: a job records about ten stages.
    private let stageTimers = Locked<[String: Timer]>([:])

    /// The stages a job can pass, named by the mark each ends at (the time since the mark before it): received →
    /// parsed → turn (its target's FIFO) → checked (requester) → spawned (posix_spawn returned) → pid_file → mount_seen
    /// → decided → reply_sent → confirmed → acked. A job that does not spawn skips those three.
    static let stageNames = [
        "parsed", "turn", "checked", "spawned", "pid_file", "mount_seen", "decided", "reply_sent", "confirmed", "acked",
    ]

    /// Every series the alert rules and the dashboard name, at zero, from the first scrape on (a counter that has
    /// never moved would otherwise be absent, and `increase()` over it undefined). Called after the backend is
    /// bootstrapped, which happens after the agent is built.
    private func registerAll() {
        for label in [
            "dms_deliveries_total", "dms_deliveries_redelivered_total", "dms_requests_expired_total",
            "dms_requests_abandoned_total", "dms_requests_dead_lettered_total", "dms_replies_refused_total",
            "dms_fuse_crashes_total", "dms_fuse_adoptions_total", "dms_stale_cleanups_total", "dms_jobs_poisoned_total",
            "dms_deliveries_copies_total",
        ] {
            Counter(label: label).increment(by: 0)
        }
        for stage in Self.stageNames { _ = stageTimer(stage) }
        for action in ["mount", "unmount", "status"] {
            _ = Timer(label: "dms_job_duration_seconds", dimensions: [("action", action)])
            for status in ReplyStatus.allCases.map(\.rawValue) {
                Counter(label: "dms_jobs_total", dimensions: [("action", action), ("status", status)]).increment(by: 0)
            }
        }
    }

    func jobStarted() -> UInt64 { jobs.begin() }

    func jobFinished(_ token: UInt64, action: String, status: String) {
        guard let nanoseconds = jobs.end(token) else { return }
        Counter(label: "dms_jobs_total", dimensions: [("action", action), ("status", status)]).increment()
        Timer(label: "dms_job_duration_seconds", dimensions: [("action", action)])
            .recordNanoseconds(Int64(nanoseconds))
    }

    private func stageTimer(_ stage: String) -> Timer {
        stageTimers.withLock { timers in
            if let timer = timers[stage] { return timer }
            let timer = Timer(label: "dms_job_stage_seconds", dimensions: [("stage", stage)])
            timers[stage] = timer
            return timer
        }
    }

    /// A finished job's stages into `dms_job_stage_seconds{stage}`.
    func stages(_ stages: [(name: String, nanoseconds: UInt64)]) {
        for stage in stages { stageTimer(stage.name).recordNanoseconds(Int64(stage.nanoseconds)) }
    }

    func delivery(redelivered: Bool) {
        Counter(label: "dms_deliveries_total").increment()
        if redelivered { Counter(label: "dms_deliveries_redelivered_total").increment() }
    }

    func expired() { Counter(label: "dms_requests_expired_total").increment() }
    func abandoned() { Counter(label: "dms_requests_abandoned_total").increment() }
    func poisoned() { Counter(label: "dms_jobs_poisoned_total").increment() }
    func copyRecognised() { Counter(label: "dms_deliveries_copies_total").increment() }
    func deadLettered() { Counter(label: "dms_requests_dead_lettered_total").increment() }

    func event(_ event: ManagerEvent) {
        switch event {
        case .crashed: Counter(label: "dms_fuse_crashes_total").increment()
        case .adopted: Counter(label: "dms_fuse_adoptions_total").increment()
        case .staleCleaned: Counter(label: "dms_stale_cleanups_total").increment()
        case .mounted, .unmounted, .leftAlone: break
        }
    }

    func replyRefused() { Counter(label: "dms_replies_refused_total").increment() }

    /// Sets the gauges from the current state, just before an export. Blocks (reads /proc and the mount
    /// table): the health endpoint calls it on its own thread.
    func refresh(
        manager: S3VaultFuseManager, reconnects: Int, connected: Bool, blocked: Bool, unconfirmedReplies: Int,
        ready: Bool
    ) {
        if registered.withLock({ done in
            defer { done = true }
            return !done
        }) {
            registerAll()
        }
        Gauge(label: "dms_ready").record(ready ? 1 : 0)
        Gauge(label: "dms_broker_blocked").record(blocked ? 1 : 0)
        Gauge(label: "dms_replies_unconfirmed").record(unconfirmedReplies)
        let stats = manager.currentStats()
        Gauge(label: "dms_tracked_processes").record(stats.alive)
        Gauge(label: "dms_fuse_mounts").record(stats.processes.filter(\.mounted).count)
        Gauge(label: "dms_left_alone").record(stats.leftAlone.count)
        Gauge(label: "dms_broker_reconnects").record(reconnects)
        Gauge(label: "dms_broker_connected").record(connected ? 1 : 0)
        Gauge(label: "dms_oldest_in_flight_job_seconds").record(jobs.oldestAge ?? 0)
        Gauge(label: "dms_jobs_in_flight").record(jobs.count)
    }
}
