package import AMQP
import FoundationEssentials
import Glibc
package import VaultFuse

/// Everything `dms-agent run` needs. Defaults match the existing deployment.
package struct AgentConfiguration: Sendable {
    package var nodeID: String
    package var amqp: AMQPConfiguration
    package var vaultFuse: VaultFuseConfiguration
    /// Jobs in parallel (different targets); also the consumer prefetch. Default: 10.
    package var workers: Int = 10
    /// Requests whose AMQP timestamp is older are answered `expired`, not run. Default: 300 s.
    package var maxRequestAge: Duration = .seconds(300)
    /// The type `dms.<node>` and the dead-letter queue are declared with when missing. Default: classic.
    package var queueType: QueueType = .classic
    /// Declare them durable (a quorum queue always is). Default: true.
    package var queueDurable: Bool = true
    /// `node.heartbeat` event period; 0 turns it off. Default: 30 s.
    package var heartbeatInterval: Duration = .seconds(30)
    package var requestExchange: String = "trilio_dms"
    package var statusExchange: String = "trilio_dms.status"
    /// Prefix for NFS `mount`/`umount`, e.g. `["sudo"]`. Default: none (the agent runs as root).
    package var nfsCommandPrefix: [String] = []
    /// Deadline of each NFS mount(8)/umount(8). Default: 60 s.
    package var nfsTimeout: Duration = .seconds(60)
    /// Global s3vaultfuse settings (`KEY=VALUE`), overridden by the secret's payload.
    package var s3EnvFile: String?
    /// Barbican HTTP timeout. Default: 30 s.
    package var barbicanTimeout: Duration = .seconds(30)
    /// Verify Barbican's TLS certificate. Default: true.
    package var barbicanVerifyTLS: Bool = true
    /// CA bundle for Barbican, replacing the system's.
    package var barbicanCABundle: String?
    /// Barbican's endpoint, for `doctor` only (each request names its own secret_ref).
    package var barbicanURL: String?
    /// Broker user names allowed to publish requests (the AMQP `user_id` property, which the broker
    /// validates). Empty: any publisher. Default: empty.
    package var allowedPublishers: Set<String> = []
    /// A job during which the agent died this many times is answered `attempts_exhausted`, not run again. Default: 3.
    package var maxJobAttempts: Int = 3
    /// Jobs taken (journaled and acked) and not yet answered, at most; beyond, deliveries wait unacked in the
    /// broker's prefetch. Default: 10,000.
    package var maxPendingJobs: Int = 10_000
    /// How long a graceful stop waits for in-flight jobs. Default: 30 s.
    package var shutdownGrace: Duration = .seconds(30)

    package init(nodeID: String, amqp: AMQPConfiguration, vaultFuse: VaultFuseConfiguration) {
        self.nodeID = nodeID
        self.amqp = amqp
        self.vaultFuse = vaultFuse
    }

    package var requestQueue: String { "dms.\(nodeID)" }
    /// The one queue every node keeps refused requests in: a node costs one queue, its request queue.
    package var deadLetterQueue: String = "trilio_dms.dead"

    /// What the agent meets on its consuming connection: the request exchange (shared, topic), its own
    /// request and dead-letter queues, and the binding. Queues carry `x-queue-type: quorum` when quorum and no
    /// other argument: dead-lettering, delivery limits and TTLs belong in broker policies, so that every
    /// declarer of `dms.<node>` (the Python client declares it with no arguments) makes the same declaration.
    package var consumerTopology: AMQPTopology {
        let arguments: [String: AMQPFieldValue] = queueType == .quorum ? ["x-queue-type": .string("quorum")] : [:]
        let durable = queueDurable || queueType == .quorum
        return AMQPTopology(
            exchanges: [.init(name: requestExchange, type: "topic")],
            queues: [
                .init(name: requestQueue, durable: durable, arguments: arguments),
                .init(name: deadLetterQueue, durable: durable, arguments: arguments, required: false),
            ],
            bindings: [.init(queue: requestQueue, exchange: requestExchange, routingKey: requestQueue)])
    }

    package var publisherTopology: AMQPTopology {
        AMQPTopology(exchanges: [.init(name: statusExchange, type: "topic")])
    }
}
