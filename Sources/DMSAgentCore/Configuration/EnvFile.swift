import FoundationEssentials

/// `KEY=VALUE` lines (and `[DEFAULT]`-style INI sections, whose headers are ignored) for every target.
package enum EnvFile {
    package static func read(_ path: String) throws -> [String: String] {
        parse(try String(contentsOfFile: path, encoding: .utf8))
    }

    package static func parse(_ text: String) -> [String: String] {
        var env: [String: String] = [:]
        for line in KeyValueLines.parse(text) where !line.key.isEmpty {
            let (key, raw) = (line.key, line.value)
            let quoted = raw.count >= 2 && raw.first == raw.last && (raw.first == "\"" || raw.first == "'")
            env[key] = quoted ? String(raw.dropFirst().dropLast()) : raw
        }
        return env
    }
}
