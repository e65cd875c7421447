import FoundationEssentials
import Glibc

/// What to consume. Deliveries are manual-ack.
package struct AMQPConsumerOptions: Sendable {
    package var queue: String
    /// basic.qos prefetch_count. Default: 10.
    package var prefetch: Int = 10
    package init(queue: String, prefetch: Int = 10) {
        self.queue = queue
        self.prefetch = prefetch
    }
}
