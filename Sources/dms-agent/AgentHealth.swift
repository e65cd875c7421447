import DMSAgentCore
import DMSNodeTools
import Prometheus

/// What the health endpoint reports of the running agent; the metrics text from the registry the agent's metrics
/// were bootstrapped into.
struct AgentHealth: HealthSource {
    let agent: DMSAgent
    let registry: PrometheusCollectorRegistry

    var isHealthy: Bool { agent.isHealthy }
    var notReadyReason: String? { agent.notReadyReason }

    func metricsText() -> [UInt8] {
        agent.refreshMetrics()
        return registry.emitToBuffer()
    }
}
