import AMQP
import DMSWire
import FoundationEssentials
import Glibc
import VaultFuse

/// Everything `dms-agent run` needs. Defaults match the existing deployment.
public struct AgentConfiguration: Sendable {
    public var nodeID: String
    public var amqp: AMQPConfiguration
    public var vaultFuse: VaultFuseConfiguration
    /// Jobs in parallel (different targets); also the consumer prefetch. Default: 10.
    public var workers: Int = 10
    /// Requests whose AMQP timestamp is older are answered `expired`, not run. Default: 300 s.
    public var maxRequestAge: Duration = .seconds(300)
    /// The type `dms.<node>` and the dead-letter queue are declared with when missing. Default: classic.
    public var queueType: QueueType = .classic
    /// Declare them durable (a quorum queue always is). Default: true.
    public var queueDurable: Bool = true
    /// `node.heartbeat` event period; 0 turns it off. Default: 30 s.
    public var heartbeatInterval: Duration = .seconds(30)
    public var requestExchange: String = "trilio_dms"
    public var statusExchange: String = "trilio_dms.status"
    /// Prefix for NFS `mount`/`umount`, e.g. `["sudo"]`. Default: none (the agent runs as root).
    public var nfsCommandPrefix: [String] = []
    /// Deadline of each NFS mount(8)/umount(8). Default: 60 s.
    public var nfsTimeout: Duration = .seconds(60)
    /// Global s3vaultfuse settings (`KEY=VALUE`), overridden by the secret's payload.
    public var s3EnvFile: String?
    /// Barbican HTTP timeout. Default: 30 s.
    public var barbicanTimeout: Duration = .seconds(30)
    /// Verify Barbican's TLS certificate. Default: true.
    public var barbicanVerifyTLS: Bool = true
    /// CA bundle for Barbican, replacing the system's.
    public var barbicanCABundle: String?
    /// Barbican's endpoint, for `doctor` only (each request names its own secret_ref).
    public var barbicanURL: String?
    /// Broker user names allowed to publish requests (the AMQP `user_id` property, which the broker
    /// validates). Empty: any publisher. Default: empty.
    public var allowedPublishers: Set<String> = []
    /// A job during which the agent died this many times is answered `attempts_exhausted`, not run again. Default: 3.
    public var maxJobAttempts: Int = 3
    /// Jobs taken (journaled and acked) and not yet answered, at most; beyond, deliveries wait unacked in the
    /// broker's prefetch. Default: 10,000.
    public var maxPendingJobs: Int = 10_000
    /// How long a graceful stop waits for in-flight jobs. Default: 30 s.
    public var shutdownGrace: Duration = .seconds(30)

    public init(nodeID: String, amqp: AMQPConfiguration, vaultFuse: VaultFuseConfiguration) {
        self.nodeID = nodeID
        self.amqp = amqp
        self.vaultFuse = vaultFuse
    }

    public var requestQueue: String { "dms.\(nodeID)" }
    /// The one queue every node keeps refused requests in: a node costs one queue, its request queue.
    public var deadLetterQueue: String = "trilio_dms.dead"

    /// What the agent meets on its consuming connection: the request exchange (shared, topic), its own
    /// request and dead-letter queues, and the binding. Queues carry `x-queue-type: quorum` when quorum and no
    /// other argument: dead-lettering, delivery limits and TTLs belong in broker policies, so that every
    /// declarer of `dms.<node>` (the Python client declares it with no arguments) makes the same declaration.
    public var consumerTopology: AMQPTopology {
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

    public var publisherTopology: AMQPTopology {
        AMQPTopology(exchanges: [.init(name: statusExchange, type: "topic")])
    }
}
