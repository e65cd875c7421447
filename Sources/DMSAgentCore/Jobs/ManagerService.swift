import ServiceLifecycle
import VaultFuse

/// The manager as a service: it holds the PID-directory lock, watches every pidfd and handles the processes that
/// exit on their own until the group has stopped the agent, then lets go of the lock once the last exit is handled.
/// It never signals a process: every s3vaultfuse outlives the agent.
struct ManagerService: Service {
    let manager: S3VaultFuseManager

    func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await manager.run() }
            try? await gracefulShutdown()
            manager.shutdown()
        }
    }
}
