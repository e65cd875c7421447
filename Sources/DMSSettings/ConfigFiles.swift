import DMSAgentCore
import FoundationEssentials
import Glibc
import LinuxSupport

/// The config files as oslo.config reads them: every `--config-file` in order, then `--config-dir`'s `*.conf` in
/// sorted order. A later file overrides an earlier one key by key; within one file `[server]` wins over
/// `[DEFAULT]`, so a later file's `[DEFAULT] node_id` (helm's dynamic.conf) still overrides an earlier `[server]` one.
/// Other sections (`[oslo_messaging_rabbit]`) are layered the same way, section by section.
package struct ConfigFiles: Sendable {
    /// The files read, in order.
    package private(set) var paths: [String] = []
    /// The agent's keys: `[server]` and `[DEFAULT]` of every file.
    package private(set) var entries: [String: ConfigValue] = [:]
    /// Every other section as written.
    package private(set) var sections: [String: [String: ConfigValue]] = [:]

    package init() {}

    /// Reads `files`, then `directory/*.conf`. A file or directory named here that cannot be read is an error
    /// naming it: a configuration silently missing half its keys is the failure this type exists to prevent.
    package init(files: [String], directory: String? = nil) throws(SettingError) {
        var all = files
        if let directory {
            var isDirectory = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory else {
                throw SettingError("--config-dir \(directory): no such directory")
            }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            all += names.filter { $0.hasSuffix(".conf") && !$0.hasPrefix(".") }.sorted().map { directory + "/" + $0 }
        }
        for path in all {
            switch FileContents.read(path, limit: 16 << 20) {
            case .success(let bytes): add(String(decoding: bytes, as: UTF8.self), path: path)
            case .failure(let error) where error.code == ENOENT:
                throw SettingError("--config-file \(path): no such file")
            case .failure(let error): throw SettingError("--config-file \(path): \(error)")
            }
        }
    }

    /// Layers one file's text over what was read before.
    package mutating func add(_ text: String, path: String) {
        paths.append(path)
        var agentKeys: [String: (value: String, origin: ConfigOrigin, section: String)] = [:]
        for line in KeyValueLines.parse(text) {
            let origin = ConfigOrigin(path: path, line: line.number)
            if line.section == "DEFAULT" || line.section == "server" {
                // [server] over [DEFAULT] within the file, whatever their order; else the later line.
                if let seen = agentKeys[line.key], seen.section == "server", line.section == "DEFAULT" {
                    entries[line.key] = Self.layer(entries[line.key], value: seen.value, at: seen.origin, under: origin)
                    continue
                }
                agentKeys[line.key] = (line.value, origin, line.section)
                entries[line.key] = Self.layer(entries[line.key], value: line.value, at: origin)
            } else {
                sections[line.section, default: [:]][line.key] = Self.layer(
                    sections[line.section]?[line.key], value: line.value, at: origin)
            }
        }
    }

    private static func layer(
        _ earlier: ConfigValue?, value: String, at origin: ConfigOrigin, under shadowed: ConfigOrigin? = nil
    ) -> ConfigValue {
        var overrides = earlier.map { [$0.origin] + $0.overrides } ?? []
        if let shadowed { overrides.insert(shadowed, at: 0) }
        overrides.removeAll { $0 == origin }
        return ConfigValue(value: value, origin: origin, overrides: overrides)
    }

    package subscript(key: String) -> String? { entries[key]?.value }

    /// One section's values (`[oslo_messaging_rabbit]`).
    package func section(_ name: String) -> [String: String] { (sections[name] ?? [:]).mapValues(\.value) }
}
