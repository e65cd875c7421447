import DMSAgentCore
import DMSWire

/// A setting that cannot be used, naming where its value came from.
public struct SettingError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
