import AMQP
import DMSAgentCore
import Foundation
import Testing
import VaultFuse

@testable import DMSSettings

@Suite struct SettingsTests {
    func file(_ text: String, path: String = "server.conf") throws -> ConfigFiles {
        var files = ConfigFiles()
        files.add(text, path: path)
        return files
    }

    @Test func optionBeatsEnvironmentBeatsServerBeatsDefaultSectionBeatsDefault() throws {
        let ini = try file(
            "[DEFAULT]\nnode_id = from-default\nworker_threads = 3\nkill_timeout = 4\n[server]\nnode_id = from-server\n"
        )
        let env = ["DMS_NODE_ID": "from-env", "DMS_WORKERS": "7"]
        let all = SettingsResolver(options: ["node-id": "from-option"], environment: env, file: ini)
        #expect(try all.agent(hostName: "host").nodeID == "from-option")
        let noOption = SettingsResolver(environment: env, file: ini)
        #expect(try noOption.agent(hostName: "host").nodeID == "from-env")
        #expect(try noOption.agent(hostName: "host").workers == 7)
        let fileOnly = SettingsResolver(environment: [:], file: ini)
        #expect(try fileOnly.agent(hostName: "host").nodeID == "from-server")
        #expect(try fileOnly.agent(hostName: "host").workers == 3)
        #expect(try fileOnly.vaultFuse().killTimeout == .seconds(4))
        let nothing = SettingsResolver(environment: [:])
        #expect(try nothing.agent(hostName: "host").nodeID == "host")
        #expect(try nothing.agent(hostName: "host").workers == 10)
        #expect(try nothing.vaultFuse().killTimeout == .seconds(10))
    }

    @Test func booleansAreStrictAndErrorsNameTheirSource() throws {
        for yes in ["true", "YES", "1", "on"] { #expect(try SettingsResolver.parseBool(yes, source: "x")) }
        for no in ["false", "No", "0", "OFF"] { #expect(try !SettingsResolver.parseBool(no, source: "x")) }
        let ini = try file("[server]\nrabbitmq_queue_durable = maybe\n")
        #expect(
            throws: SettingError(
                "config key rabbitmq_queue_durable (server.conf:2): expected true or false, got \"maybe\"")
        ) {
            try SettingsResolver(environment: [:], file: ini).agent(hostName: "h")
        }
        #expect(throws: SettingError("DMS_BARBICAN_SSL_VERIFY: expected true or false, got \"enabled\"")) {
            try SettingsResolver(environment: ["DMS_BARBICAN_SSL_VERIFY": "enabled"]).agent(hostName: "h")
        }
        #expect(throws: SettingError("--workers: expected a whole number ≥ 1, got \"many\"")) {
            try SettingsResolver(options: ["workers": "many"], environment: [:]).agent(hostName: "h")
        }
    }

    @Test func durationsTakeSecondsOrAUnit() throws {
        #expect(try SettingsResolver.parseDuration("30", source: "x") == .seconds(30))
        #expect(try SettingsResolver.parseDuration("0.5", source: "x") == .milliseconds(500))
        #expect(try SettingsResolver.parseDuration("500ms", source: "x") == .milliseconds(500))
        #expect(try SettingsResolver.parseDuration("2m", source: "x") == .seconds(120))
        #expect(try SettingsResolver.parseDuration("1h", source: "x") == .seconds(3600))
        for bad in ["-1", "ten", "5 parsecs", "nan", "inf", ""] {
            #expect(throws: SettingError.self) { try SettingsResolver.parseDuration(bad, source: "--kill-timeout") }
        }
        let r = SettingsResolver(
            options: ["nfs-timeout": "90s", "heartbeat-interval": "0"], environment: ["DMS_MOUNT_TIMEOUT": "1m"])
        #expect(try r.agent(hostName: "h").nfsTimeout == .seconds(90))
        #expect(try r.agent(hostName: "h").heartbeatInterval == .zero)
        #expect(try r.vaultFuse().mountTimeout == .seconds(60))
    }

    @Test func queueTypeFollowsThePrecedenceOfItsTwoSettings() throws {
        func type(_ options: [String: String?] = [:], _ env: [String: String] = [:], _ ini: String = "") throws
            -> QueueType
        {
            try SettingsResolver(options: options, environment: env, file: try file(ini)).queueType()
        }
        #expect(try type() == .classic)
        #expect(try type([:], [:], "[server]\nrabbit_quorum_queue = true\n") == .quorum)
        #expect(
            try type([:], ["DMS_RABBITMQ_QUEUE_TYPE": "classic"], "[server]\nrabbit_quorum_queue = true\n") == .classic)
        #expect(try type(["quorum-queue": "true"], ["DMS_RABBITMQ_QUEUE_TYPE": "classic"]) == .quorum)
        #expect(try type(["rabbitmq-queue-type": "classic", "quorum-queue": "true"]) == .classic)
        #expect(throws: SettingError("DMS_RABBITMQ_QUEUE_TYPE: expected classic or quorum, got \"stream\"")) {
            try type([:], ["DMS_RABBITMQ_QUEUE_TYPE": "stream"])
        }
    }

    @Test func unknownKeysAreNamedNotRefused() throws {
        let r = SettingsResolver(
            environment: [:], file: try file("[DEFAULT]\nauth_url = http://keystone\n[server]\nnode_id = n\n"))
        #expect(r.unusedKeys == ["auth_url"])
    }

    /// docs/configuration.md's table is this table: regenerate it from the failure message when a setting changes.
    @Test func theDocumentedConfigurationTableIsTheSettingsTable() throws {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let document = try String(contentsOfFile: root.path + "/docs/configuration.md", encoding: .utf8)
        let table = Settings.markdownTable()
        let matches = document.contains(table + "\n")
        #expect(matches, "docs/configuration.md's table must read (dms-agent settings prints it):\n\(table)")
    }
}

extension SettingsTests {
    /// The Debian package's commented server.conf, every key uncommented, resolves to the defaults: the file
    /// cannot name a key the agent does not read or show a default it does not have.
    @Test func theCommentedConfigFileUncommentedResolvesToTheDefaults() throws {
        let text = Settings.commentedConfigFile()
        let uncommented = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("#"), let eq = line.firstIndex(of: "="), !line.contains(" (default: ") else {
                return String(line)
            }
            let key = line.dropFirst().prefix { $0 != " " }
            return Settings.all.contains { $0.keys.contains(String(key)) } && eq > line.startIndex
                ? String(line.dropFirst()) : String(line)
        }.joined(separator: "\n")
        let ini = try file(uncommented)
        let r = SettingsResolver(environment: [:], file: ini)
        #expect(r.unusedKeys.isEmpty)
        #expect(ini.entries.count >= 15, "\(uncommented)")
        let resolved = try r.agent(hostName: "h")
        let defaults = try SettingsResolver(environment: [:]).agent(hostName: "h")
        #expect(resolved.workers == defaults.workers && resolved.maxRequestAge == defaults.maxRequestAge)
        #expect(resolved.heartbeatInterval == defaults.heartbeatInterval && resolved.nfsTimeout == defaults.nfsTimeout)
        #expect(resolved.queueType == defaults.queueType && resolved.queueDurable == defaults.queueDurable)
        #expect(resolved.vaultFuse.killTimeout == defaults.vaultFuse.killTimeout)
        #expect(
            resolved.vaultFuse.mountBases == defaults.vaultFuse.mountBases
                && resolved.vaultFuse.binary == defaults.vaultFuse.binary)
        #expect(resolved.amqp.description == defaults.amqp.description)
    }
}
