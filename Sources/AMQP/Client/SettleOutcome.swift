import FoundationEssentials
import Glibc

package enum SettleOutcome: Sendable, Equatable {
    case settled
    /// The delivery belongs to a connection that is gone; the broker will redeliver it.
    case staleDelivery
}
