import ServiceLifecycle

/// `node.heartbeat` every `interval`, a `Service` of the agent's group: stops at the group's graceful shutdown,
/// before the agent drains.
package struct Heartbeat: Service {
    let agent: DMSAgent
    let interval: Duration

    package init(agent: DMSAgent) {
        self.agent = agent
        interval = agent.configuration.heartbeatInterval
    }

    package func run() async throws {
        // Disabled, it still lives until the group stops: a service that returns early stops the group.
        guard interval > .zero else {
            try? await gracefulShutdown()
            return
        }
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: interval)
                await agent.publishHeartbeat()
            }
        }
    }
}
