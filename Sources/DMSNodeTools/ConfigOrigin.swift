import DMSAgentCore
import DMSWire

/// Where a config value was written: a file and its line.
public struct ConfigOrigin: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let line: Int
    public var description: String { "\(path):\(line)" }
}
