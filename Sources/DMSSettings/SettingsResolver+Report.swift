import DMSAgentCore

/// `dms-agent settings --resolved`: every effective value and where it came from — option, environment variable,
/// file and line (with the lines it overrides), or the default. The operator's first question when two files
/// disagree. Secrets are masked: a URL's password, any key naming a password, token or secret.
extension SettingsResolver {
    package func resolvedReport() -> String {
        var rows: [(name: String, value: String, source: String)] = []
        let files = file.paths.isEmpty ? "none" : file.paths.joined(separator: ", ")
        rows.append(("config files", files, "read in this order; a later file overrides an earlier one key by key"))
        let debugOn = (try? bool(Settings.debug)) ?? false
        for setting in Settings.all where setting != Settings.configFile && setting != Settings.configDir {
            let name = setting.keys.first ?? "--" + setting.option
            guard let (value, source) = lookup(setting) else {
                rows.append((name, setting.defaultText, "default"))
                continue
            }
            var origin = source.description
            if case .file(_, let entry) = source { origin += entry.overridesText }
            rows.append((name, Self.masked(key: name, value), origin))
        }
        if debugOn, let index = rows.firstIndex(where: { $0.name == "log_level" }) {
            rows[index].value = "debug"
            rows[index].source = "debug is on (\(raw(Settings.debug)?.source ?? "--debug"))"
        }
        for (section, values) in file.sections.sorted(by: { $0.key < $1.key }) {
            for (key, entry) in values.sorted(by: { $0.key < $1.key }) {
                rows.append(
                    ("[\(section)] \(key)", Self.masked(key: key, entry.value), "\(entry.origin)\(entry.overridesText)")
                )
            }
        }
        for key in unusedKeys {
            if let entry = file.entries[key] {
                rows.append((key, Self.masked(key: key, entry.value), "\(entry.origin); accepted, not used"))
            }
        }
        for (key, origin) in unknownKeys {
            rows.append((key, Self.masked(key: key, file[key] ?? ""), "\(origin); UNKNOWN: no setting reads it"))
        }
        let width = min(28, rows.map(\.name.count).max() ?? 0)
        return rows.map { row in
            let pad = String(repeating: " ", count: max(0, width - row.name.count))
            return "\(row.name)\(pad) = \(row.value)    # \(row.source)"
        }.joined(separator: "\n")
    }

    /// The value as it may be shown: secrets as `***`, a URL's password (every host of a transport_url) as `***`.
    /// A key whose value is a secret (a password, not the path of a password file or a CA bundle).
    package static func isMaskedKey(_ key: String) -> Bool {
        DeadLetter.isSecretKey(key) && !key.hasSuffix("_file") && !key.hasSuffix("_bundle")
    }

    static func masked(key: String, _ value: String) -> String {
        if isMaskedKey(key) { return "***" }
        let parts = value.split(separator: "://", maxSplits: 1)
        guard parts.count == 2, let rest = parts.last else { return value }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let hosts = rest[..<authorityEnd].split(separator: ",", omittingEmptySubsequences: false).map { host in
            guard let at = host.lastIndex(of: "@") else { return String(host) }
            let user = host[..<at]
            guard let colon = user.firstIndex(of: ":") else { return String(host) }
            return String(user[..<colon]) + ":***" + String(host[at...])
        }
        return parts[0] + "://" + hosts.joined(separator: ",") + rest[authorityEnd...]
    }
}
