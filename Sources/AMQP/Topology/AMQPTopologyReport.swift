import CRabbitMQ

/// What the broker held when the topology was set up: which objects existed, which were declared, and for
/// existing queues whether they match the declaration we would have made (the broker's own words if not).
package struct AMQPTopologyReport: Sendable, Equatable {
    package enum Origin: String, Sendable { case existed, declared, unavailable }
    package struct Entry: Sendable, Equatable {
        package var kind: String
        package var name: String
        package var origin: Origin
        /// For an existing queue: nil when its properties equal ours, else the broker's 406 text. For an
        /// unavailable one (not required, missing and refused): the refusal.
        package var difference: String?
    }
    package var entries: [Entry] = []
}
