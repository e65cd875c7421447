import DMSAgentCore
import DMSWire

/// One setting of the agent: its option, environment variables, config keys, default and help — the one place
/// they are named. `--help`, the README's configuration table (checked by a test) and the resolution all read it.
public struct Setting: Sendable, Hashable {
    /// The long option without `--`.
    public let option: String
    /// Environment variables, the first set one wins.
    public let environment: [String]
    /// Config-file keys (`[server]` over `[DEFAULT]`), the first present one wins.
    public let keys: [String]
    /// The default as the README and `--help` show it (with a short note in parentheses where useful).
    public let defaultText: String
    public let summary: String
    public let valueName: String

    init(
        _ option: String, env: [String], keys: [String], default defaultText: String, value valueName: String,
        _ summary: String
    ) {
        self.option = option
        environment = env
        self.keys = keys
        self.defaultText = defaultText
        self.summary = summary
        self.valueName = valueName
    }

    /// The option's help: the summary, then where else it may come from and its default.
    public var help: String {
        var text = summary
        if !environment.isEmpty { text += " Env \(environment.joined(separator: " or "))" }
        if !keys.isEmpty { text += (environment.isEmpty ? " Key " : ", key ") + keys.joined(separator: " or ") }
        if !environment.isEmpty || !keys.isEmpty { text += "." }
        if defaultText != "–" { text += " Default: \(defaultText)." }
        return text
    }
}
