import AMQP
import DMSAgentCore
import Foundation
import Testing
import VaultFuse

@testable import DMSSettings

/// The config files as oslo.config reads them: in order, a later file overriding an earlier one key by key.
@Suite struct ConfigFilesTests {
    /// Writes each (name, text) into a fresh directory; returns the directory.
    func directory(_ files: [(String, String)]) throws -> String {
        let dir = NSTemporaryDirectory() + "dms-conf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        return dir
    }

    @Test func helmsTwoFilesKeepEveryKeyOfTheFirstAndTheNodeOfTheSecond() throws {
        let dir = try directory([
            (
                "server.conf",
                "[DEFAULT]\nrabbitmq_url = amqp://dms:pw@10.0.0.1:5672/\nnode_id = controller\n"
                    + "mount_base_path = /var/lib/trilio/triliovault-mounts\n[server]\nworker_threads = 3\n"
            ),
            ("dynamic.conf", "[DEFAULT]\nnode_id = compute-07\n"),
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = try ConfigFiles(files: [dir + "/server.conf", dir + "/dynamic.conf"])
        let config = try SettingsResolver(environment: [:], file: files).agent(hostName: "h")
        #expect(config.nodeID == "compute-07")
        #expect(config.workers == 3)
        #expect(config.vaultFuse.mountBases == ["/var/lib/trilio/triliovault-mounts"])
        #expect(config.amqp.endpoints.first?.host == "10.0.0.1")
        let node = try #require(files.entries["node_id"])
        #expect(node.origin == ConfigOrigin(path: dir + "/dynamic.conf", line: 2))
        #expect(node.overrides == [ConfigOrigin(path: dir + "/server.conf", line: 3)])
    }

    @Test func threeFilesOverrideKeyByKeyDefaultAndServerAlike() throws {
        let dir = try directory([
            (
                "a.conf",
                "[server]\nnode_id = a\nworker_threads = 2\nlog_level = info\n[oslo_messaging_rabbit]\nssl = false\n"
            ),
            // [server] wins over [DEFAULT] inside one file, whatever their order.
            ("b.conf", "[server]\nworker_threads = 4\n[DEFAULT]\nworker_threads = 9\nnode_id = b\n"),
            ("c.conf", "[DEFAULT]\nlog_level = debug\n[oslo_messaging_rabbit]\nrabbit_retry_interval = 2\n"),
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = try ConfigFiles(files: ["a", "b", "c"].map { "\(dir)/\($0).conf" })
        #expect(files["node_id"] == "b", "a later file's [DEFAULT] overrides an earlier file's [server]")
        #expect(files["worker_threads"] == "4", "within b.conf, [server] wins over [DEFAULT]")
        #expect(files.entries["worker_threads"]?.overrides.map(\.line) == [4, 3])
        #expect(files["log_level"] == "debug")
        #expect(files.section("oslo_messaging_rabbit") == ["ssl": "false", "rabbit_retry_interval": "2"])
        #expect(files.paths.count == 3)
    }

    @Test func aConfigDirIsReadSortedAfterTheFiles() throws {
        let dir = try directory([
            ("server.conf", "[DEFAULT]\nnode_id = from-file\nworker_threads = 2\n")
        ])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/d", withIntermediateDirectories: true)
        try "[DEFAULT]\nnode_id = from-20\n".write(toFile: dir + "/d/20-node.conf", atomically: true, encoding: .utf8)
        try "[DEFAULT]\nnode_id = from-10\nworker_threads = 5\n".write(
            toFile: dir + "/d/10-workers.conf", atomically: true, encoding: .utf8)
        try "[DEFAULT]\nnode_id = not-a-conf\n".write(toFile: dir + "/d/30.conf.bak", atomically: true, encoding: .utf8)
        let files = try ConfigFiles(files: [dir + "/server.conf"], directory: dir + "/d")
        #expect(files.paths == [dir + "/server.conf", dir + "/d/10-workers.conf", dir + "/d/20-node.conf"])
        #expect(files["node_id"] == "from-20" && files["worker_threads"] == "5")
    }

    @Test func optionsAndEnvironmentStillWinOverEveryFile() throws {
        var files = ConfigFiles()
        files.add("[DEFAULT]\nnode_id = one\nworker_threads = 2\n", path: "a.conf")
        files.add("[DEFAULT]\nnode_id = two\nworker_threads = 3\n", path: "b.conf")
        let r = SettingsResolver(options: ["node-id": "opt"], environment: ["DMS_WORKERS": "7"], file: files)
        let config = try r.agent(hostName: "h")
        #expect(config.nodeID == "opt" && config.workers == 7)
    }

    @Test func aMissingFileOrDirectoryIsAnErrorNamingIt() throws {
        #expect(throws: SettingError("--config-file /nonexistent/server.conf: no such file")) {
            try ConfigFiles(files: ["/nonexistent/server.conf"])
        }
        #expect(throws: SettingError("--config-dir /nonexistent/conf.d: no such directory")) {
            try ConfigFiles(files: [], directory: "/nonexistent/conf.d")
        }
    }

    @Test func unknownKeysAreNamedWithTheirLine() throws {
        var files = ConfigFiles()
        files.add("[DEFAULT]\nauth_url = http://keystone\nmount_base = /x\n[server]\nnode_id = n\n", path: "s.conf")
        let r = SettingsResolver(environment: [:], file: files)
        #expect(r.unusedKeys == ["auth_url"])
        #expect(r.unknownKeys.map(\.key) == ["mount_base"])
        #expect(r.unknownKeys.first?.origin.description == "s.conf:3")
    }

    @Test func theResolvedReportNamesEverySourceAndMasksSecrets() throws {
        var files = ConfigFiles()
        files.add(
            "[DEFAULT]\ntransport_url = rabbit://dms:s3cret@h1:5672,dms2:other@h2:5672//\nnode_id = a\ntypo_key = 1\n",
            path: "server.conf")
        files.add("[DEFAULT]\nnode_id = b\n[oslo_messaging_rabbit]\nrabbit_password = hunter2\n", path: "dynamic.conf")
        let r = SettingsResolver(
            options: ["pid-dir": "/run/x", "debug": "true"], environment: ["DMS_WORKERS": "4"], file: files)
        let report = r.resolvedReport()
        let lines = report.split(separator: "\n").map(String.init)
        func line(_ name: String) -> String { lines.first { $0.hasPrefix(name + " ") } ?? "" }
        #expect(line("config files").contains("server.conf, dynamic.conf"))
        #expect(
            line("node_id").contains("= b ") && line("node_id").contains("(dynamic.conf:2); overrides server.conf:3"))
        #expect(line("rabbitmq_url").contains("rabbit://dms:***@h1:5672,dms2:***@h2:5672//"))
        #expect(line("worker_threads").contains("# DMS_WORKERS"))
        #expect(line("pid_dir").contains("# --pid-dir"))
        #expect(line("kill_timeout").contains("10 s") && line("kill_timeout").hasSuffix("# default"))
        #expect(line("log_level").contains("= debug") && line("log_level").contains("debug is on (--debug)"))
        #expect(line("typo_key").contains("UNKNOWN"))
        #expect(!report.contains("s3cret") && !report.contains("other@") && !report.contains("hunter2"), "\(report)")
    }

    @Test func logSizesTakeBytesOrASuffix() throws {
        func bytes(_ text: String) throws -> Int {
            try SettingsResolver(options: ["log-max-bytes": text], environment: [:]).bytes(
                Settings.logMaxBytes, default: 1)
        }
        #expect(try bytes("10485760") == 10_485_760)
        #expect(try bytes("10M") == 10_485_760 && bytes("10MiB") == 10_485_760 && bytes("64k") == 65_536)
        #expect(try bytes("0") == 0)
        // 2^40 G overflowed the multiplication and trapped before the limit applied to the product.
        for bad in ["-1", "ten", "1.5M", "1099511627776G", "9223372036854775807K"] {
            #expect(throws: SettingError.self) { try bytes(bad) }
        }
    }
}
