import AMQP
import ServiceLifecycle

/// An AMQP connection as a service of the agent's group: it connects when the group starts (retrying until the
/// broker answers) and closes when the group has stopped the services after it. A configuration the broker
/// connection can never accept stops the group (`AgentError.Code.brokerRefusedConfiguration`).
struct AMQPConnectionService: Service {
    let client: AMQPClient
    let role: String

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await client.start() }
        } catch let error as AMQPError where error.isFatal {
            await client.close()
            throw AgentError(.brokerRefusedConfiguration, "\(role) connection: \(error.message)")
        } catch {
            // Stopped before the broker answered.
        }
        try? await gracefulShutdown()
        await client.close()
    }
}
