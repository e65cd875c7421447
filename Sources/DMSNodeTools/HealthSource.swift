/// What the health endpoint reports: the agent in `dms-agent run`, a fake in the endpoint's tests.
package protocol HealthSource: Sendable {
    /// `/healthz`: the process is up and holds the PID-directory lock.
    var isHealthy: Bool { get }
    /// `/readyz`: why it answers 503; nil when ready.
    var notReadyReason: String? { get }
    /// `/metrics`: the Prometheus text, gauges refreshed first. Called on the connection's own thread; may block.
    func metricsText() -> [UInt8]
}
