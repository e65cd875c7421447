import DMSWire
import Foundation
import TestSupport
import Testing

@Suite(.onTheBlockingPool, .timeLimit(.minutes(3)), .needsEverything)
struct OperationsTests {
    @Test func metricsMoveWithJobsAndHealthEndpointsAnswer() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box, extraArguments: ["--log-format", "json"])
        try await agent.start()
        defer { agent.stop() }
        #expect(agent.http("/healthz").0 == 200)
        #expect(agent.http("/readyz").0 == 200)
        #expect(agent.http("/nope").0 == 404)
        try await withRequester { requester in
            let node = agent.nodeID
            _ = try await requester.call(
                Requester.body(action: "mount", node: node, target: "m1", path: box.mountPath("m1"), jobid: 77),
                node: node)
            var metrics = agent.http("/metrics").1
            #expect(metrics.contains(#"dms_jobs_total{action="mount",status="success"} 1"#), "\(metrics)")
            #expect(metrics.contains("dms_tracked_processes 1"))
            #expect(metrics.contains("dms_fuse_mounts 1"))
            #expect(metrics.contains("dms_job_duration_seconds_bucket"))
            _ = try await requester.call(
                Requester.body(action: "unmount", node: node, target: "m1", path: box.mountPath("m1")), node: node)
            _ = try await requester.send(Array("garbage".utf8), node: node)
            _ = try await requester.call(Requester.body(action: "status", node: node), node: node)
            metrics = agent.http("/metrics").1
            #expect(metrics.contains(#"dms_jobs_total{action="unmount",status="success"} 1"#))
            #expect(metrics.contains("dms_requests_dead_lettered_total 1"))
            #expect(metrics.contains("dms_tracked_processes 0"))
            #expect(metrics.contains("dms_broker_connected 1"))
            // JSON log lines parse and carry the job's ids
            let lines = agent.logLines().compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            #expect(lines.count == agent.logLines().count, "every log line is one JSON object")
            let done = lines.first { $0["message"] as? String == "job done" && $0["jobid"] as? String == "77" }
            #expect(
                done?["target_id"] as? String == "m1" && done?["node_id"] as? String == node
                    && (done?["correlation_id"] as? String)?.isEmpty == false)
            #expect(done?["time"] != nil && done?["level"] as? String == "info")
        }
    }
}

extension OperationsTests {
    /// A mount(8) that never returns (an NFS server that does not answer) fails its job at the deadline, leaves no
    /// process behind, and frees the target for its next job.
    /// Each channel for a reason: the consuming connection consumes (and opens the probe channel for the first
    /// requester check), the publishing one publishes; nothing idles open on the broker of every node.
    @Test func eachConnectionHoldsOnlyTheChannelsItUses() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box)
        try await agent.start()
        defer { agent.stop() }
        let consumer = "dms-agent@\(agent.nodeID)"
        let publisher = consumer + "/publish"
        #expect(Broker.channels(ofConnectionsNamed: consumer) == [consumer: 1, publisher: 1])
        try await withRequester { requester in
            let reply = try await requester.call(
                Requester.body(action: "unmount", node: agent.nodeID, target: "c1", path: box.mountPath("c1")),
                node: agent.nodeID)
            #expect(reply?.status == .success, "\(String(describing: reply))")
        }
        #expect(Broker.channels(ofConnectionsNamed: consumer) == [consumer: 2, publisher: 1], "the requester check's")
    }

    @Test func aHelperCommandThatNeverReturnsFailsAtItsDeadline() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let hang = box.root + "/hang.sh"
        try "#!/bin/sh\nexec sleep 987\n".write(toFile: hang, atomically: true, encoding: .utf8)
        chmod(hang, 0o755)
        let agent = AgentProcess(box: box, extraArguments: ["--nfs-command-prefix", hang, "--nfs-timeout", "2"])
        try await agent.start()
        defer { agent.stop() }
        let requester = try await Requester()
        let body = Requester.body(
            action: "mount", node: agent.nodeID, target: "nfs1", path: box.mountPath("nfs1"), type: "nfs",
            extra: [
                "backup_target": [
                    "id": "nfs1", "type": "nfs", "status": "available", "filesystem_export": "10.0.0.5:/backups",
                    "filesystem_export_mount_path": box.mountPath("nfs1"), "nfs_mount_opts": "nolock",
                    "secret_ref": NSNull(),
                ] as [String: Any]
            ])
        for _ in 0..<2 {
            let reply = await requester.reply(try await requester.send(body, node: agent.nodeID), timeout: 30)
            #expect(
                reply?.code == .mountFailed && reply?.errorMsg?.contains("timed out after 2 s and was stopped") == true,
                "\(String(describing: reply)) \(agent.log())")
        }
        #expect(await eventually { Proc.shell("pgrep -f -x 'sleep 987'").status != 0 }, "no helper left behind")
        await requester.close()
    }

    /// A FUSE server that stops answering (SIGSTOP: every lookup below its mount hangs) holds only the jobs that
    /// touch its mount, each on a blocking thread of its own: with more such jobs than the node has cores, another
    /// target still mounts, a status job answers and /readyz says ready.
    @Test func aHungFuseServerHoldsOnlyTheJobsThatTouchIt() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box)
        try await agent.start()
        defer { agent.stop() }
        let requester = try await Requester()
        let mounted = try await requester.call(
            Requester.body(action: "mount", node: agent.nodeID, target: "hung", path: box.mountPath("hung")),
            node: agent.nodeID)
        let hungPID = try #require(mounted?.pid, "\(String(describing: mounted)) \(agent.log())")
        kill(hungPID, SIGSTOP)
        defer { kill(hungPID, SIGKILL) }
        // Each of these walks into the stopped server's mount (lstat of <mnt>/hung/<id>) and hangs there.
        let stuck = ProcessInfo.processInfo.activeProcessorCount + 2
        var stuckIDs: [String] = []
        for n in 0..<stuck {
            let body = Requester.body(
                action: "mount", node: agent.nodeID, target: "inside\(n)", path: box.mountPath("hung") + "/inside\(n)")
            stuckIDs.append(try await requester.send(body, node: agent.nodeID))
        }
        let fine = try await requester.call(
            Requester.body(action: "mount", node: agent.nodeID, target: "fine", path: box.mountPath("fine")),
            node: agent.nodeID, timeout: 20)
        #expect(fine?.code == .ok && fine?.status == .success, "\(String(describing: fine)) \(agent.log())")
        let status = try await requester.call(
            Requester.body(action: "status", node: agent.nodeID), node: agent.nodeID, timeout: 10)
        #expect(status?.status == .success, "\(String(describing: status))")
        #expect(agent.http("/readyz").0 == 200)
        // The test means something only if those jobs really were stuck meanwhile.
        #expect(stuckIDs.allSatisfy { requester.rawReply($0) == nil }, "the jobs inside the stopped mount did not hang")
        // Killed, the server's mount answers ENOTCONN: every stuck job ends with a reply.
        kill(hungPID, SIGKILL)
        for id in stuckIDs { #expect(await requester.reply(id, timeout: 20) != nil, "\(agent.log())") }
        _ = try await requester.call(
            Requester.body(action: "unmount", node: agent.nodeID, target: "fine", path: box.mountPath("fine")),
            node: agent.nodeID)
        await requester.close()
    }

    /// Garbage, an oversized request line and a client that sends its request in pieces each get a plain answer;
    /// the endpoint listens on IPv6 too.
    @Test func theHealthEndpointAnswersHostileClientsAndIPv6() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box, extraArguments: ["--metrics-listen", "*:0"])
        try await agent.start()
        defer { agent.stop() }
        let port = try #require(agent.metricsPort, "\(agent.log())")
        /// Sends `pieces` with `pause` seconds between them; returns the status line of the answer.
        func exchange(_ pieces: [String], pause: Double = 0) -> String {
            guard let fd = connectLoopback(port: port) else { return "connect failed" }
            defer { close(fd) }
            for (n, piece) in pieces.enumerated() {
                if n > 0 { usleep(UInt32(pause * 1e6)) }
                _ = Array(piece.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            var answer: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                answer += buffer[0..<n]
            }
            return String(decoding: answer.prefix { $0 != 13 }, as: UTF8.self)
        }
        #expect(exchange(["\u{01}\u{02}garbage\r\n"]) == "HTTP/1.1 400 Bad Request")
        #expect(exchange([String(repeating: "A", count: 5000)]) == "HTTP/1.1 414 URI Too Long")
        #expect(exchange(["GET /hea", "lthz HTTP/1.1\r\n\r\n"], pause: 0.5) == "HTTP/1.1 200 OK")
        #expect(exchange(["GET /nothing HTTP/1.1\r\n\r\n"]) == "HTTP/1.1 404 Not Found")
        #expect(exchange([]) == "HTTP/1.1 408 Request Timeout")
        #expect(agent.http("/healthz", host: "[::1]").0 == 200, "over IPv6")
        #expect(agent.http("/readyz").0 == 200, "over IPv4 beside IPv6")
    }

    /// Clients that connect and send nothing (a port scanner, a stuck proxy) never delay a probe.
    @Test func idleConnectionsDoNotDelayTheProbes() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box)
        try await agent.start()
        defer { agent.stop() }
        let port = try #require(agent.metricsPort)
        var idle: [Int32] = []
        for _ in 0..<3 {
            let fd = connectLoopback(port: port)
            #expect(fd != nil)
            if let fd { idle.append(fd) }
        }
        defer { idle.forEach { close($0) } }
        // Served one at a time, each idle connection would hold the probe for its 2 s read timeout.
        let probe = Proc.shell("curl -s -m 1.5 -o /dev/null -w '%{http_code}' http://127.0.0.1:\(port)/healthz").output
        #expect(probe == "200", "\(probe)")
    }
}

@Suite(.onTheBlockingPool, .serialized, .timeLimit(.minutes(3)), .needsEverything, .disruptive)
struct DisruptiveOperationsTests {
    @Test func readinessFollowsTheBroker() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box)
        try await agent.start()
        defer { agent.stop() }
        #expect(agent.http("/readyz").0 == 200)
        #expect(Broker.ctl("stop_app").status == 0)
        #expect(await eventually(timeout: 15) { agent.http("/readyz").0 == 503 })
        #expect(agent.http("/healthz").0 == 200, "alive without a broker")
        #expect(Broker.ctl("start_app").status == 0)
        #expect(await eventually(timeout: 30) { agent.http("/readyz").0 == 200 })
        #expect(agent.http("/metrics").1.contains("dms_broker_reconnects"))
    }
}

@Suite(.onTheBlockingPool, .timeLimit(.minutes(3)), .needsFUSE)
struct ConfigurationPrecedenceTests {
    /// options > environment > config file > defaults, checked through `dms-agent status --json`, which
    /// reports the PID directory and mount base it resolved.
    @Test func optionBeatsEnvironmentBeatsFile() throws {
        let box = TestEnv.makeSandbox()
        let ini = box.root + "/server.conf"
        try """
        [DEFAULT]
        mount_base_path = /tmp/dms-test/from-default-section
        [server]
        pid_dir = \(box.root)/pid-from-file
        mount_base_path = \(box.root)/mnt-from-file
        """.write(toFile: ini, atomically: true, encoding: .utf8)
        let bin = AgentProcess.binary
        func status(_ args: String, env: String = "") -> [String: Any] {
            let out = Proc.shell("\(env) \(bin) status --json --config-file \(ini) \(args)").output
            return (try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]) ?? [:]
        }
        var s = status("")
        #expect(s["pid_directory"] as? String == box.root + "/pid-from-file")
        #expect(s["mount_base"] as? String == box.root + "/mnt-from-file", "[server] wins over [DEFAULT]")
        s = status("", env: "DMS_PID_DIR=\(box.root)/pid-from-env")
        #expect(s["pid_directory"] as? String == box.root + "/pid-from-env")
        s = status("--pid-dir \(box.root)/pid-from-option", env: "DMS_PID_DIR=\(box.root)/pid-from-env")
        #expect(s["pid_directory"] as? String == box.root + "/pid-from-option")
        #expect(
            Proc.shell("\(bin) status --config-file \(box.root)/missing.conf").status != 0,
            "a missing config file is an error")
    }
}

@Suite(.onTheBlockingPool, .timeLimit(.minutes(2)), .needsEverything)
struct StopWithoutBrokerTests {
    @Test func sigtermWhileTheBrokerIsUnreachableExitsZeroAndLeavesMountsAlone() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box, extraArguments: ["--rabbitmq-url", "amqp://guest:guest@127.0.0.1:1/"])
        try await agent.start(waitForConsuming: false)
        #expect(await eventually { agent.log().contains("broker unreachable") })
        let asked = Date()
        agent.signal(SIGTERM)
        #expect(agent.wait() == 0, "\(agent.log())")
        #expect(Date().timeIntervalSince(asked) < 15, "a stop never waits for the broker")
        #expect(agent.log().contains("stopped before the broker was reached"))
    }
}

@Suite(
    .onTheBlockingPool,
    .timeLimit(.minutes(3)), .needsEverything,
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool"),
        "needs promtool (Debian's prometheus package)"))
struct MonitoringTests {
    /// The alert rules pass their promtool unit tests, and every metric they and the dashboard name is exported
    /// by a running agent from its first scrape (counters that never moved included).
    @Test func rulesAndDashboardNameOnlyWhatTheAgentExports() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box)
        try await agent.start()
        defer { agent.stop() }
        let scrape = box.root + "/metrics.txt"
        try agent.http("/metrics").1.write(toFile: scrape, atomically: true, encoding: .utf8)
        let check = Proc.shell("\(TestEnv.repoRoot)/scripts/check-monitoring.sh \(scrape) 2>&1")
        #expect(check.status == 0 && check.output.contains("all exported"), "\(check.output)")
        // and the check can fail: a scrape without the crash counter is caught
        let partial = box.root + "/partial.txt"
        try (try String(contentsOfFile: scrape, encoding: .utf8)).split(separator: "\n").filter {
            !$0.contains("dms_fuse_crashes_total")
        }
        .joined(separator: "\n").write(toFile: partial, atomically: true, encoding: .utf8)
        let failing = Proc.shell("\(TestEnv.repoRoot)/scripts/check-monitoring.sh \(partial) 2>&1")
        #expect(failing.status != 0 && failing.output.contains("dms_fuse_crashes_total"), "\(failing.output)")
    }
}
