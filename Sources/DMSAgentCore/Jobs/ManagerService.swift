import ServiceLifecycle
import VaultFuse

/// The manager as a service: it holds the PID-directory lock and watches every pidfd until the group has stopped
/// the agent, then lets go of the lock. It never signals a process: every s3vaultfuse outlives the agent.
struct ManagerService: Service {
    let manager: S3VaultFuseManager

    func run() async throws {
        try? await gracefulShutdown()
        manager.shutdown()
    }
}
