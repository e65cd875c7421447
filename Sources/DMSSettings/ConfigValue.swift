/// One key's value in the config files, where it was written, and the earlier lines it overrides.
package struct ConfigValue: Sendable, Equatable {
    package let value: String
    package let origin: ConfigOrigin
    /// Lines setting the same key that this one overrides, latest first.
    package let overrides: [ConfigOrigin]

    /// `; overrides path:line, …`, or nothing when it overrides nothing.
    package var overridesText: String {
        overrides.isEmpty ? "" : "; overrides " + overrides.map(\.description).joined(separator: ", ")
    }
}
