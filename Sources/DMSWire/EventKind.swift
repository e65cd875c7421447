/// What a status event reports; its routing key is `<node_id>.<kind>[.<target_id>]`.
public enum EventKind: String, Codable, Sendable, CaseIterable {
    case nodeStarted = "node.started"
    case nodeStopping = "node.stopping"
    case nodeHeartbeat = "node.heartbeat"
    case requestAbandoned = "request.abandoned"
    /// A job the agent died during too often; answered `attempts_exhausted` and dead-lettered.
    case requestPoisoned = "request.poisoned"
    case mounted, unmounted, adopted, crashed
    case staleCleaned = "stale_cleaned"
    /// A live mount or process not proven the agent's, left alone (never unmounted or signalled); `detail` says why.
    case leftAlone = "left_alone"
}
