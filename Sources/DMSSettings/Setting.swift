/// One setting of the agent: its option, environment variables, config keys, default and help — the one place
/// they are named. `--help`, the README's configuration table (checked by a test) and the resolution all read it.
package struct Setting: Sendable, Hashable {
    /// The long option without `--`.
    package let option: String
    /// Environment variables, the first set one wins.
    package let environment: [String]
    /// Config-file keys (`[server]` over `[DEFAULT]`), the first present one wins.
    package let keys: [String]
    /// The default as the README and `--help` show it (with a short note in parentheses where useful).
    package let defaultText: String
    package let summary: String
    package let valueName: String

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
    package var help: String {
        var text = summary
        if !environment.isEmpty { text += " Env \(environment.joined(separator: " or "))" }
        if !keys.isEmpty { text += (environment.isEmpty ? " Key " : ", key ") + keys.joined(separator: " or ") }
        if !environment.isEmpty || !keys.isEmpty { text += "." }
        if defaultText != "–" { text += " Default: \(defaultText)." }
        return text
    }
}
