import FoundationEssentials
import Glibc

/// What to consume. Deliveries are manual-ack.
public struct AMQPConsumerOptions: Sendable {
    public var queue: String
    /// basic.qos prefetch_count. Default: 10.
    public var prefetch: Int = 10
    public init(queue: String, prefetch: Int = 10) {
        self.queue = queue
        self.prefetch = prefetch
    }
}
