package import DMSAgentCore
import DMSWire

/// Resolution of settings, a pure function of its three sources: command-line option > environment variable >
/// config files (layered as oslo.config layers them, `ConfigFiles`) > default.
package struct SettingsResolver: Sendable {
    /// Raw option values by option name (without `--`); nil values are absent options.
    package var options: [String: String]
    package var environment: [String: String]
    package var file: ConfigFiles

    package init(options: [String: String?] = [:], environment: [String: String], file: ConfigFiles = ConfigFiles()) {
        self.options = options.compactMapValues { $0 }
        self.environment = environment
        self.file = file
    }

    /// Where a setting's value came from.
    package enum Source: Sendable, Equatable, CustomStringConvertible {
        case option(String)
        case environment(String)
        case file(key: String, ConfigValue)

        package var description: String {
            switch self {
            case .option(let name): return "--\(name)"
            case .environment(let name): return name
            case .file(let key, let value): return "config key \(key) (\(value.origin))"
            }
        }
    }

    /// The raw value and where it came from; nil when unset. An empty value counts as unset (`key =` in a file
    /// means the default).
    package func lookup(_ setting: Setting) -> (value: String, source: Source)? {
        if let v = options[setting.option], !v.trimmed.isEmpty { return (v, .option(setting.option)) }
        for name in setting.environment {
            if let v = environment[name], !v.trimmed.isEmpty { return (v, .environment(name)) }
        }
        for key in setting.keys {
            if let entry = file.entries[key], !entry.value.trimmed.isEmpty {
                return (entry.value, .file(key: key, entry))
            }
        }
        return nil
    }

    /// The raw value and where it came from ("--node-id", "DMS_NODE_ID", "config key node_id (path:3)").
    package func raw(_ setting: Setting) -> (value: String, source: String)? {
        lookup(setting).map { ($0.value, $0.source.description) }
    }

    package func string(_ setting: Setting) -> String? { raw(setting)?.value }

    package func string(_ setting: Setting, default value: String) -> String { raw(setting)?.value ?? value }

    /// true/false, yes/no, 1/0, on/off (any case); anything else is an error naming where it came from.
    package func bool(_ setting: Setting) throws(SettingError) -> Bool? {
        guard let (value, source) = raw(setting) else { return nil }
        return try Self.parseBool(value, source: source)
    }

    package static func parseBool(_ value: String, source: String) throws(SettingError) -> Bool {
        switch value.lowercased() {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default: throw SettingError("\(source): expected true or false, got \(value.debugDescription)")
        }
    }

    /// A duration: seconds as a number (`30`, `0.5`) or with a unit (`500ms`, `30s`, `2m`, `1h`); never negative.
    package func duration(_ setting: Setting, default value: Duration) throws(SettingError) -> Duration {
        guard let (text, source) = raw(setting) else { return value }
        return try Self.parseDuration(text, source: source)
    }

    package static func parseDuration(_ text: String, source: String) throws(SettingError) -> Duration {
        let units: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = text.trimmed.lowercased()
        var scale = 1.0
        if let unit = units.first(where: {
            number.hasSuffix($0.suffix) && Double(number.dropLast($0.suffix.count).trimmed) != nil
        }) {
            number = number.dropLast(unit.suffix.count).trimmed
            scale = unit.seconds
        }
        guard let seconds = Double(number), seconds.isFinite, seconds >= 0, seconds * scale < 1e9 else {
            throw SettingError(
                "\(source): expected a duration such as 30, 30s, 500ms or 2m, got \(text.debugDescription)")
        }
        return .nanoseconds(Int64((seconds * scale * 1e9).rounded()))
    }

    /// A whole number ≥ `minimum` (1 unless said).
    package func count(_ setting: Setting, default value: Int, atLeast minimum: Int = 1) throws(SettingError) -> Int {
        guard let (text, source) = raw(setting) else { return value }
        guard let n = Int(text.trimmed), n >= minimum else {
            throw SettingError("\(source): expected a whole number ≥ \(minimum), got \(text.debugDescription)")
        }
        return n
    }

    /// Comma-separated, blanks dropped.
    package func list(_ setting: Setting) -> [String] {
        (string(setting) ?? "").split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }
    }

    /// Option > environment > file; at one level `rabbitmq-queue-type` before `quorum-queue`; classic when neither is set.
    package func queueType() throws(SettingError) -> QueueType {
        func level(_ source: String) -> Int { source.hasPrefix("--") ? 0 : source.hasPrefix("config key") ? 2 : 1 }
        let type = raw(Settings.rabbitmqQueueType)
        let quorum = raw(Settings.quorumQueue)
        if let (value, source) = type, quorum.map({ level(source) <= level($0.source) }) ?? true {
            guard let parsed = QueueType(rawValue: value.lowercased()) else {
                throw SettingError("\(source): expected classic or quorum, got \(value.debugDescription)")
            }
            return parsed
        }
        guard let (value, source) = quorum else { return .classic }
        return try Self.parseBool(value, source: source) ? .quorum : .classic
    }

    /// Keys of the files that the agent accepts without using (the Python server's `auth_url`, `rootwrap_bin`, …).
    package var unusedKeys: [String] {
        file.entries.keys.filter { Settings.acceptedKeys.contains($0) }.sorted()
    }

    /// Keys of the files that nothing knows, with where each was written: a typo, or a key in the wrong file.
    package var unknownKeys: [(key: String, origin: ConfigOrigin)] {
        let known = Set(Settings.all.flatMap(\.keys)).union(Settings.acceptedKeys)
        return file.entries.filter { !known.contains($0.key) }.map { ($0.key, $0.value.origin) }.sorted {
            $0.key < $1.key
        }
    }

    /// A size in bytes: a whole number, optionally with K, M or G (powers of 1024, `10M`, `10MiB`); 0 allowed.
    package func bytes(_ setting: Setting, default value: Int) throws(SettingError) -> Int {
        guard let (text, source) = raw(setting) else { return value }
        var digits = text.trimmed.uppercased()
        for suffix in ["IB", "B"] where digits.hasSuffix(suffix) && digits.count > suffix.count {
            digits.removeLast(suffix.count)
            break
        }
        let scale = [("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)].first { digits.hasSuffix($0.0) }
        if scale != nil { digits.removeLast() }
        let (bytes, overflow) = (Int(digits.trimmed) ?? -1).multipliedReportingOverflow(by: scale?.1 ?? 1)
        guard bytes >= 0, !overflow, bytes <= 1 << 40 else {
            throw SettingError(
                "\(source): expected a size in bytes such as 10485760 or 10M (at most 1 TiB), got \(text.debugDescription)"
            )
        }
        return bytes
    }

}
