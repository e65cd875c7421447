import CRabbitMQ

/// What the broker held when the topology was set up: which objects existed, which were declared, and for
/// existing queues whether they match the declaration we would have made (the broker's own words if not).
public struct AMQPTopologyReport: Sendable, Equatable {
    public enum Origin: String, Sendable { case existed, declared, unavailable }
    public struct Entry: Sendable, Equatable {
        public var kind: String
        public var name: String
        public var origin: Origin
        /// For an existing queue: nil when its properties equal ours, else the broker's 406 text. For an
        /// unavailable one (not required, missing and refused): the refusal.
        public var difference: String?
    }
    public var entries: [Entry] = []
}
