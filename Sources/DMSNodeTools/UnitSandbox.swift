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

    /// What these directives refuse that a mount, an unmount or a fuse's S3 traffic needs.
    package var refusals: [SandboxProbe.Refusal] {
        var found: [SandboxProbe.Refusal] = []
        // An allow-list is printed as names; a deny-list starts with "~".
        let filter = words("SystemCallFilter")
        let denies = filter.first?.hasPrefix("~") == true
        let names = Set(filter.map { $0.hasPrefix("~") ? String($0.dropFirst()) : $0 })
        if !filter.isEmpty, denies == (names.contains("mount") || names.contains("umount2")) {
            found.append(
                SandboxProbe.Refusal(
                    what: "mount(2)/umount(2)", directive: "SystemCallFilter=: FUSE mounts need @mount"))
        }
        let user = values["User"] ?? ""
        let root = user.isEmpty || user == "root" || user == "0"
        let bounding = Set(words("CapabilityBoundingSet").map { $0.lowercased() })
        if !bounding.isEmpty, !bounding.contains("cap_sys_admin") {
            found.append(
                SandboxProbe.Refusal(
                    what: root ? "mount(2) as root" : "the setuid fusermount3 of an unprivileged agent",
                    directive: "CapabilityBoundingSet=: mounts need CAP_SYS_ADMIN"))
        }
        if !root, values["NoNewPrivileges"] == "yes" {
            found.append(
                SandboxProbe.Refusal(
                    what: "the setuid fusermount3 of an unprivileged agent",
                    directive: "NoNewPrivileges=: it must be off for User= other than root"))
        }
        let policy = values["DevicePolicy"] ?? "auto"
        if policy != "auto", !(values["DeviceAllow"] ?? "").contains("/dev/fuse rw") {
            found.append(
                SandboxProbe.Refusal(what: "open /dev/fuse", directive: "DeviceAllow=: it needs /dev/fuse rw"))
        }
        let families = words("RestrictAddressFamilies")
        let familiesDeny = families.first?.hasPrefix("~") == true
        let familyNames = Set(families.map { $0.hasPrefix("~") ? String($0.dropFirst()) : $0 })
        if !families.isEmpty, familiesDeny == familyNames.contains("AF_INET") {
            found.append(
                SandboxProbe.Refusal(
                    what: "an AF_INET socket (the broker, Barbican, the fuse's S3 traffic)",
                    directive: "RestrictAddressFamilies=: it needs AF_INET AF_INET6 AF_UNIX"))
        }
        return found
    }
}
