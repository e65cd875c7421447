import FoundationEssentials
import LinuxSupport
package import VaultFuse

/// The sandbox systemd applies to the agent's unit, as `systemctl show` reports it, judged against what FUSE mounts
/// need. `doctor` runs in an operator's shell, outside that sandbox: it reads the unit's effective directives rather
/// than probing its own process.
package struct UnitSandbox: Sendable, Equatable {
    /// `systemctl show -p` names this reads.
    package static let properties = [
        "SystemCallFilter", "CapabilityBoundingSet", "NoNewPrivileges", "User", "DevicePolicy", "DeviceAllow",
        "RestrictAddressFamilies", "LoadState",
    ]

    var values: [String: String]

    /// Parses `systemctl show -p A -p B …` output: one `Name=value` line each.
    package init(show output: String) {
        values = [:]
        for line in output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
    }

    /// The unit `name` as systemd has it, or nil when systemctl is absent or the unit is not loaded.
    package static func read(unit name: String = "dms-agent.service") -> UnitSandbox? {
        let result = CommandRunner.run(
            "/usr/bin/systemctl", ["show", name] + properties.flatMap { ["-p", $0] }, deadline: .seconds(10))
        guard result.status == 0 else { return nil }
        let sandbox = UnitSandbox(show: result.output)
        return sandbox.values["LoadState"] == "loaded" ? sandbox : nil
    }

    private func words(_ key: String) -> [String] {
        (values[key] ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    /// Whether the list `key` (an allow list of names, or a deny list starting with "~") lets any of `names` through;
    /// nil when the directive is not set.
    private func listAllows(_ key: String, anyOf names: Set<String>) -> Bool? {
        let list = words(key)
        guard let first = list.first else { return nil }
        let denies = first.hasPrefix("~")
        let listed = !names.isDisjoint(with: list.map { $0.hasPrefix("~") ? String($0.dropFirst()) : $0 })
        return denies != listed
    }

    /// What these directives refuse that a mount, an unmount or a fuse's S3 traffic needs.
    package var refusals: [SandboxProbe.Refusal] {
        var found: [SandboxProbe.Refusal] = []
        if listAllows("SystemCallFilter", anyOf: ["mount", "umount2"]) == false { found.append(.mountCalls()) }
        let user = values["User"] ?? ""
        let root = user.isEmpty || user == "root" || user == "0"
        let bounding = Set(words("CapabilityBoundingSet").map { $0.lowercased() })
        if !bounding.isEmpty, !bounding.contains("cap_sys_admin") { found.append(.capSysAdmin(root: root)) }
        if !root, values["NoNewPrivileges"] == "yes" { found.append(.noNewPrivileges) }
        let policy = values["DevicePolicy"] ?? "auto"
        if policy != "auto", !(values["DeviceAllow"] ?? "").contains("/dev/fuse rw") { found.append(.fuseDevice) }
        if listAllows("RestrictAddressFamilies", anyOf: ["AF_INET"]) == false { found.append(.inetSockets) }
        return found
    }
}
