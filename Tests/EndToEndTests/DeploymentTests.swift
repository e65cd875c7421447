import DMSWire
import Foundation
import TestSupport
import Testing
import VaultFuse

/// The agent started as the deploy tools start the shipped server: its command name, its config files, its logs.
@Suite(.onTheBlockingPool, .serialized, .timeLimit(.minutes(8)), .needsEverything)
struct DeploymentTests {
    /// `/etc/triliovault-dms`, the directory every deploy tool names, when this machine has none of its own (it is
    /// removed afterwards); else a directory in the sandbox, for the same command line shape.
    static func configDirectory(_ box: Sandbox) -> (path: String, owned: Bool) {
        let system = "/etc/triliovault-dms"
        if !FileManager.default.fileExists(atPath: system),
            (try? FileManager.default.createDirectory(atPath: system, withIntermediateDirectories: false)) != nil
        {
            return (system, true)
        }
        let local = box.root + "/etc/triliovault-dms"
        try? FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
        return (local, false)
    }

    /// server.conf as a deploy tool writes it, plus what a test node needs (its own directories and ports).
    static func serverConf(_ box: Sandbox, nodeID: String?, extra: String = "") -> String {
        """
        [DEFAULT]
        rabbitmq_url = \(TestEnv.amqpURL)
        \(nodeID.map { "node_id = \($0)" } ?? "")
        auth_url = http://keystone:5000/v3
        rootwrap_bin = /usr/bin/trilio-dms-rootwrap
        rootwrap_conf = /etc/triliovault-dms/rootwrap.conf
        worker_threads = 4
        log_level = info
        mount_base_path = \(box.mountBase)
        s3vaultfuse_bin = \(TestEnv.fakeFuse)
        pid_dir = \(box.pidDir)
        log_dir = \(box.logDir)
        metrics_listen = 127.0.0.1:0
        heartbeat_interval = 0
        kill_timeout = 3
        \(extra)
        """
    }

    /// `trilio-dms-server`, a symbolic link to the built binary, as the Debian package installs it.
    static func serverBinary(_ box: Sandbox) throws -> String {
        let link = box.root + "/bin/trilio-dms-server"
        try FileManager.default.createDirectory(atPath: box.root + "/bin", withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: AgentProcess.binary)
        return link
    }

    /// The packaged unit's ExecStart, with the binary where this build put it.
    static func unitCommandLine() throws -> [String] {
        let unit = try String(contentsOfFile: TestEnv.repoRoot + "/docker/dms-agent.service", encoding: .utf8)
        let line = try #require(unit.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        return line.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
    }

    @Test(arguments: ["kolla", "openstack-helm", "systemd"])
    func theDeployToolsCommandLinesRunUnchanged(tool: String) async throws {
        let box = TestEnv.makeSandbox(#function + tool)
        defer { box.tearDown() }
        let node = "deploy-\(UUID().uuidString.prefix(8).lowercased())"
        let (etc, owned) = Self.configDirectory(box)
        defer { if owned { try? FileManager.default.removeItem(atPath: etc) } }
        let server = etc + "/server.conf"
        var command: [String]
        switch tool {
        case "openstack-helm":
            // server.conf from the chart (no node), dynamic.conf from the pod's host: only node_id.
            try Self.serverConf(box, nodeID: "controller").write(toFile: server, atomically: true, encoding: .utf8)
            try "[DEFAULT]\nnode_id = \(node)\n".write(toFile: etc + "/dynamic.conf", atomically: true, encoding: .utf8)
            command = [
                try Self.serverBinary(box), "--config-file", server, "--config-file", etc + "/dynamic.conf",
            ]
        case "kolla":
            try Self.serverConf(box, nodeID: node).write(toFile: server, atomically: true, encoding: .utf8)
            command = [try Self.serverBinary(box), "--config-file", server]
        default:
            try Self.serverConf(box, nodeID: node).write(toFile: server, atomically: true, encoding: .utf8)
            command = try Self.unitCommandLine()
            #expect(command.first == "/usr/bin/dms-agent")
            command[0] = AgentProcess.binary
            command = command.map { $0 == "/etc/triliovault-dms/server.conf" ? server : $0 }
        }
        let agent = AgentProcess(nodeID: node, box: box)
        agent.commandLine = command
        try await agent.start()
        defer { agent.stop() }
        // Every key of server.conf holds: the mount base, the binary, the node of the later file.
        let outcome = try PythonClient.run(
            node: node,
            bodies: [
                DropInTests.mountBody(node, box, target: "d1"),
                DropInTests.mountBody(node, box, target: "d1", action: "unmount"),
            ])
        #expect(
            outcome.replies.map { $0?["status"] as? String } == ["success", "success"],
            "\(outcome.errors) \(agent.log())")
        #expect(
            outcome.replies.first??["success_msg"] as? String
                == "S3 target mounted successfully at \(box.mountPath("d1"))")
        #expect(MountTable.mount(at: box.mountPath("d1")) == nil)
    }

    @Test func theServersDebugFlagLogsAtDebugLevelAndOsloFlagsAreRefusedByName() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let node = "debug-\(UUID().uuidString.prefix(8).lowercased())"
        let conf = box.root + "/server.conf"
        try Self.serverConf(box, nodeID: node).write(toFile: conf, atomically: true, encoding: .utf8)
        let binary = try Self.serverBinary(box)
        let refused = Proc.shell("\(binary) --config-file \(conf) --use-syslog 2>&1; echo \"exit=$?\"").output
        #expect(refused.contains("trilio-dms-server: --use-syslog is an oslo option") && refused.contains("exit=64"))
        let missing = Proc.shell(
            "\(binary) --config-file \(conf) --config-file /nonexistent.conf 2>&1; echo \"exit=$?\""
        )
        .output
        #expect(missing.contains("--config-file /nonexistent.conf: no such file") && missing.contains("exit=64"))
        let agent = AgentProcess(nodeID: node, box: box)
        agent.commandLine = [binary, "--config-file", conf, "--debug"]
        try await agent.start()
        defer { agent.stop() }
        #expect(agent.logLines().contains { $0.contains(" debug ") }, "\(agent.log())")
    }

    /// Rotation at a small size under a steady stream of jobs: every job's line is in exactly one file, whole.
    @Test func theLogFileRotatesWithoutLosingOrSplittingALine() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let logFile = box.root + "/var-log/server.log"
        try FileManager.default.createDirectory(atPath: box.root + "/var-log", withIntermediateDirectories: true)
        let agent = AgentProcess(
            box: box, extraArguments: ["--log-file", logFile, "--log-max-bytes", "2K", "--log-backup-count", "200"])
        agent.logPath = logFile
        let jobs = 150
        try await withAgent(agent) { agent, requester in
            var ids: [String] = []
            for job in 1...jobs {
                ids.append(
                    try await requester.send(
                        Requester.body(action: "status", node: agent.nodeID, jobid: job), node: agent.nodeID))
            }
            for id in ids { #expect(await requester.reply(id)?.status == .success) }
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: box.root + "/var-log")
        let rotated = names.filter { $0.hasPrefix("server.log.") }
        #expect(rotated.count >= 5, "\(names)")
        var lines: [Substring] = []
        // Oldest first: .N … .1, then the file itself.
        for name in rotated.sorted(by: { Int($0.split(separator: ".").last!)! > Int($1.split(separator: ".").last!)! })
            + ["server.log"]
        {
            let text = try String(contentsOfFile: box.root + "/var-log/" + name, encoding: .utf8)
            #expect(text.hasSuffix("\n"), "\(name) ends with a whole line")
            let size = text.utf8.count
            #expect(name == "server.log" || size <= 2048, "\(name) is \(size) bytes")
            lines += text.split(separator: "\n")
        }
        #expect(lines.allSatisfy { $0.hasPrefix("20") && $0.contains(" ") }, "every line starts with its timestamp")
        for job in 1...jobs {
            let done = lines.filter { $0.contains("job done") && $0.contains("jobid=\(job) ") }
            #expect(done.count == 1, "job \(job): \(done.count) lines")
        }
        let order = lines.compactMap { line -> Int? in
            guard line.contains("job done"), let r = line.range(of: #"jobid=[0-9]+"#, options: .regularExpression)
            else { return nil }
            return Int(line[r].dropFirst(6))
        }
        #expect(order == Array(1...jobs), "the files hold the lines in order")
    }

    @Test func aBackupCountKeepsThatManyFiles() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let logFile = box.root + "/server.log"
        let agent = AgentProcess(
            box: box, extraArguments: ["--log-file", logFile, "--log-max-bytes", "1024", "--log-backup-count", "2"])
        agent.logPath = logFile
        try await withAgent(agent) { agent, requester in
            for job in 1...40 {
                _ = try await requester.call(
                    Requester.body(action: "status", node: agent.nodeID, jobid: job), node: agent.nodeID)
            }
        }
        let fm = FileManager.default
        #expect(fm.fileExists(atPath: logFile + ".1") && fm.fileExists(atPath: logFile + ".2"))
        #expect(!fm.fileExists(atPath: logFile + ".3"))
    }

    @Test func sighupReopensTheLogFileAfterLogrotateMovedIt() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let logFile = box.root + "/server.log"
        let agent = AgentProcess(box: box, extraArguments: ["--log-file", logFile, "--log-max-bytes", "0"])
        agent.logPath = logFile
        try await withAgent(agent) { agent, requester in
            #expect(
                try await requester.call(
                    Requester.body(action: "status", node: agent.nodeID, jobid: 1), node: agent.nodeID)?.status
                    == .success)
            try FileManager.default.moveItem(atPath: logFile, toPath: logFile + ".moved")
            agent.signal(SIGHUP)
            #expect(await eventually { FileManager.default.fileExists(atPath: logFile) })
            #expect(
                try await requester.call(
                    Requester.body(action: "status", node: agent.nodeID, jobid: 2), node: agent.nodeID)?.status
                    == .success)
            #expect(Proc.isLive(agent.pid), "SIGHUP does not end the agent")
        }
        let moved = try String(contentsOfFile: logFile + ".moved", encoding: .utf8)
        let fresh = try String(contentsOfFile: logFile, encoding: .utf8)
        #expect(moved.contains("jobid=1 ") && !moved.contains("jobid=2 "))
        #expect(fresh.contains("log file reopened") && fresh.contains("jobid=2 "), "\(fresh)")
    }

    @Test func anUnwritableLogFileIsReportedOnceAndTheAgentServes() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        // A path below a regular file: no directory can be made there, for root neither.
        let blocker = box.root + "/not-a-directory"
        try "x".write(toFile: blocker, atomically: true, encoding: .utf8)
        let agent = AgentProcess(box: box, extraArguments: ["--log-file", blocker + "/server.log"])
        try await withAgent(agent) { agent, requester in
            for job in 1...3 {
                let reply = try await requester.call(
                    Requester.body(action: "status", node: agent.nodeID, jobid: job), node: agent.nodeID)
                #expect(reply?.status == .success)
            }
        }
        let stderr = agent.log()
        #expect(
            stderr.components(separatedBy: "cannot open log file \(blocker)/server.log").count == 2, "once: \(stderr)")
        #expect(stderr.contains("job done"), "lines go to stderr instead")
    }
}
