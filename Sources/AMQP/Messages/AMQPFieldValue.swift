import FoundationEssentials
import Glibc

/// A value in an AMQP field table (headers, queue arguments). Not `indirect`: the recursive cases are already
/// behind a Dictionary's or an Array's storage, so a box per value (an allocation for every `.int`) buys nothing.
package enum AMQPFieldValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    case timestamp(UInt64)
    case table([String: AMQPFieldValue])
    case array([AMQPFieldValue])
    case bytes([UInt8])
    case void

    package var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    package var intValue: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }
}
