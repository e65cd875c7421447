import AMQP
import ServiceLifecycle
import VaultFuse

/// An AMQP connection as a service of the agent's group: it connects when the group starts (retrying until the
/// broker answers) and closes when the group has stopped the services after it. A configuration the broker
/// connection can never accept stops the group with exit status 64.
struct AMQPConnectionService: Service {
    let client: AMQPClient
    let role: String

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await client.start() }
        } catch let error as AMQPError where error.isFatal {
            await client.close()
            throw CommandError("\(role) connection: \(error.message)", exitCode: 64)
        } catch {
            // Stopped before the broker answered.
        }
        try? await gracefulShutdown()
        await client.close()
    }
}

/// The manager as a service: it holds the PID-directory lock and watches every pidfd until the group has stopped
/// the agent, then lets go of the lock. It never signals a process: every s3vaultfuse outlives the agent.
struct ManagerService: Service {
    let manager: S3VaultFuseManager

    func run() async throws {
        try? await gracefulShutdown()
        manager.shutdown()
    }
}
