import DMSAgentCore
import DMSWire

/// One key's value in the config files, where it was written, and the earlier lines it overrides.
public struct ConfigValue: Sendable, Equatable {
    public let value: String
    public let origin: ConfigOrigin
    /// Lines setting the same key that this one overrides, latest first.
    public let overrides: [ConfigOrigin]

    /// `; overrides path:line, …`, or nothing when it overrides nothing.
    public var overridesText: String {
        overrides.isEmpty ? "" : "; overrides " + overrides.map(\.description).joined(separator: ", ")
    }
}
