import DMSWire
import Foundation
import TestSupport
import Testing
import VaultFuse

/// One line of the chaos table. Everything but `sent` and `answered` must be zero.
struct ChaosRow: CustomStringConvertible {
    var scenario: String
    var sent = 0
    var answered = 0
    var duplicatedEffects = 0
    var lost = 0
    var orphanedProcesses = 0
    var orphanedMounts = 0
    var wrongKills = 0
    var agentCrashes = 0
    /// Secret values found in logs, replies, events, PID files, fuse logs, command lines or the fuse's environment.
    var secretLeaks = 0
    /// Files or mounts created, changed or deleted outside the PID directory and the mount base.
    var outsideTouched = 0

    var isClean: Bool {
        duplicatedEffects + lost + orphanedProcesses + orphanedMounts + wrongKills + agentCrashes + secretLeaks
            + outsideTouched == 0
    }

    static let header =
        "scenario".padding(toLength: 46, withPad: " ", startingAt: 0)
        + " sent answered dup lost orph-proc orph-mount wrong-kill crashes leaks outside"

    var description: String {
        scenario.padding(toLength: 46, withPad: " ", startingAt: 0)
            + String(
                format: " %4d %8d %3d %4d %9d %10d %10d %7d %5d %7d", sent, answered, duplicatedEffects, lost,
                orphanedProcesses, orphanedMounts, wrongKills, agentCrashes, secretLeaks, outsideTouched)
    }
}

/// Compares what runs with what the last job of each target says: one process per mounted target
/// (matching its PID file), none otherwise, and no FUSE mount that no process serves.
func audit(_ row: inout ChaosRow, box: Sandbox, expectMounted: Set<String>, allTargets: Set<String>) {
    let processes = Proc.fuseProcesses(under: box.mountBase)
    for target in allTargets.union(processes.keys) {
        let count = processes[target]?.count ?? 0
        if expectMounted.contains(target) {
            if count > 1 { row.duplicatedEffects += count - 1 }
            if count == 0 { row.lost += 1 }
            let filePID = (try? String(contentsOfFile: box.pidDir + "/\(target).pid", encoding: .utf8)).flatMap {
                Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            if count == 1, filePID != processes[target]?.first { row.orphanedProcesses += 1 }
            if MountTable.fuseMount(at: box.mountPath(target)) == nil { row.lost += 1 }
        } else {
            row.orphanedProcesses += count
        }
    }
    let served = Set(expectMounted.map { box.mountPath($0) })
    row.orphanedMounts +=
        MountTable.read().filter { $0.mountPoint.hasPrefix(box.mountBase + "/") && !served.contains($0.mountPoint) }
        .count
}

@Suite(.onTheBlockingPool, .serialized, .timeLimit(.minutes(10)), .needsEverything, .disruptive)
struct DisruptiveChaosTests {
    /// One row of the chaos table: printed, then checked clean (no orphan, stale file or dead mount, no secret, no
    /// job lost without being counted). Each scenario is a test of its own, so one can be run again alone
    /// (`swift test --filter "DisruptiveChaosTests/fuse"`); the kill points are the arguments of one test.
    func check(_ row: ChaosRow) {
        print("\n" + ChaosRow.header + "\n" + "\(row)")
        #expect(row.isClean, "\(row)")
        #expect(row.answered >= row.sent - row.lost, "\(row.scenario)")
    }

    @Test(arguments: [
        "after-journal", "after-start", "before-spawn", "after-spawn", "after-pidfile", "after-reply-recorded",
        "after-reply",
    ])
    func agentKilledAt(_ point: String) async throws { check(try await agentKilled(at: point)) }

    @Test func fuseKilledUnderAMount() async throws { check(try await fuseKilled()) }

    @Test func burstThroughABrokerRestartAndCutConnections() async throws {
        check(try await burstWithBrokerRestartAndCutConnections())
    }

    @Test func aRecycledPIDIsNeverSignalled() async throws { check(try await pidReuse()) }

    @Test func twoAgentsNeverShareAPIDDirectory() async throws { check(try await twoAgentsOnOnePIDDirectory()) }

    @Test func aFullDiskFailsJobsCleanly() async throws { check(try await fullDisk()) }

    @Test func hostileMessagesAreAnsweredAndDeadLettered() async throws { check(try await hostileMessages()) }

    @Test func secretsNeverLeakToLogsRepliesOrQueues() async throws { check(try await secretsNeverLeak()) }

    // MARK: The agent dies at each step of a mount

    func agentKilled(at point: String) async throws -> ChaosRow {
        var row = ChaosRow(scenario: "agent SIGKILL \(point)")
        let box = TestEnv.makeSandbox("chaos-\(point)")
        defer { box.tearDown() }
        let node = "chaos-\(point)-\(UUID().uuidString.prefix(6).lowercased())"
        let armed = AgentProcess(nodeID: node, box: box, extraEnvironment: ["DMS_FAILPOINT=\(point)"])
        try await armed.start()
        return try await withRequester { requester in
            let id = try await requester.send(
                Requester.body(action: "mount", node: node, target: "m1", path: box.mountPath("m1")), node: node)
            row.sent = 1
            let status = armed.wait()
            if status != 128 + SIGKILL { row.agentCrashes += 1 }  // it must die exactly at the failpoint
            let restarted = AgentProcess(nodeID: node, box: box)
            try await restarted.start()
            defer { restarted.stop() }
            if await requester.reply(id, timeout: 30)?.status == .success { row.answered = 1 } else { row.lost += 1 }
            audit(&row, box: box, expectMounted: ["m1"], allTargets: ["m1"])
            let unmount = try await requester.call(
                Requester.body(action: "unmount", node: node, target: "m1", path: box.mountPath("m1")), node: node)
            row.sent += 1
            if unmount?.status == .success { row.answered += 1 } else { row.lost += 1 }
            audit(&row, box: box, expectMounted: [], allTargets: ["m1"])
            if !Proc.isLive(restarted.pid) { row.agentCrashes += 1 }
            return row
        }
    }

    // MARK: The fuse dies

    func fuseKilled() async throws -> ChaosRow {
        var row = ChaosRow(scenario: "s3vaultfuse SIGKILL")
        let box = TestEnv.makeSandbox("chaos-fuse")
        defer { box.tearDown() }
        return try await withAgent(AgentProcess(box: box)) { agent, requester in
            let first = try await requester.call(
                Requester.body(action: "mount", node: agent.nodeID, target: "f1", path: box.mountPath("f1")),
                node: agent.nodeID)
            row.sent = 1
            if first?.status == .success { row.answered += 1 } else { row.lost += 1 }
            if let pid = first?.pid { kill(pid, SIGKILL) }
            let cleaned = await eventually(timeout: 10) {
                !FileManager.default.fileExists(atPath: box.pidDir + "/f1.pid")
                    && MountTable.mount(at: box.mountPath("f1")) == nil
            }
            if !cleaned { row.orphanedMounts += 1 }
            if !agent.log().contains("s3vaultfuse exited unexpectedly") { row.lost += 1 }
            let second = try await requester.call(
                Requester.body(action: "mount", node: agent.nodeID, target: "f1", path: box.mountPath("f1")),
                node: agent.nodeID)
            row.sent += 1
            if second?.successMsg == "S3 target mounted successfully at \(box.mountPath("f1"))" {
                row.answered += 1
            } else {
                row.lost += 1
            }
            audit(&row, box: box, expectMounted: ["f1"], allTargets: ["f1"])
            _ = try await requester.call(
                Requester.body(action: "unmount", node: agent.nodeID, target: "f1", path: box.mountPath("f1")),
                node: agent.nodeID)
            if !Proc.isLive(agent.pid) { row.agentCrashes += 1 }
            return row
        }
    }

    // MARK: 500 jobs over 50 targets while the broker restarts and connections are cut

    func burstWithBrokerRestartAndCutConnections() async throws -> ChaosRow {
        var row = ChaosRow(scenario: "500 jobs/50 targets, broker restart + cut")
        let box = TestEnv.makeSandbox("chaos-burst")
        defer { box.tearDown() }
        return try await withAgent(AgentProcess(box: box)) { agent, requester in
            var rng = SystemRandomNumberGenerator()
            var last: [String: String] = [:]
            var ids: [String] = []
            for i in 0..<500 {
                let target = "b\(i % 50)"
                let action = Bool.random(using: &rng) ? "mount" : "unmount"
                last[target] = action
                ids.append(
                    try await requester.send(
                        Requester.body(
                            action: action, node: agent.nodeID, target: target, path: box.mountPath(target), jobid: i),
                        node: agent.nodeID))
            }
            row.sent = ids.count
            // The agent is working through the queue: cut its connections, then restart the broker.
            try await Task.sleep(nanoseconds: 300_000_000)
            Broker.closeConnections(named: "dms-agent@\(agent.nodeID)")
            Broker.closeConnections(named: "dms-agent@\(agent.nodeID)/publish")
            try await Task.sleep(nanoseconds: 300_000_000)
            Broker.ctl("stop_app")
            try await Task.sleep(nanoseconds: 500_000_000)
            Broker.ctl("start_app")
            for id in ids {
                if await requester.reply(id, timeout: 90) != nil { row.answered += 1 } else { row.lost += 1 }
            }
            let mounted = Set(last.filter { $0.value == "mount" }.keys)
            _ = await eventually(timeout: 10) { Proc.fuseProcesses(under: box.mountBase).count == mounted.count }
            audit(&row, box: box, expectMounted: mounted, allTargets: Set(last.keys))
            if !Proc.isLive(agent.pid) { row.agentCrashes += 1 }
            for target in mounted {
                _ = try await requester.call(
                    Requester.body(action: "unmount", node: agent.nodeID, target: target, path: box.mountPath(target)),
                    node: agent.nodeID)
            }
            return row
        }
    }

    // MARK: PID files that name someone else

    func pidReuse() async throws -> ChaosRow {
        var row = ChaosRow(scenario: "PID reuse (stranger + recycled PID)")
        let box = TestEnv.makeSandbox("chaos-pid")
        defer { box.tearDown() }
        try FileManager.default.createDirectory(atPath: box.pidDir, withIntermediateDirectories: true)
        // 1. an unrelated long-lived process
        let stranger = Proc.startSleep()
        defer { Proc.stopAndReap(stranger) }
        try "\(stranger)\n".write(toFile: box.pidDir + "/stranger.pid", atomically: true, encoding: .utf8)
        // 2. a recycled PID: the file's owner died, and ns_last_pid hands its number to a newcomer
        let owner = Proc.startSleep()
        try "\(owner)\n".write(toFile: box.pidDir + "/recycled.pid", atomically: true, encoding: .utf8)
        var old = [timespec(tv_sec: time(nil) - 120, tv_nsec: 0), timespec(tv_sec: time(nil) - 120, tv_nsec: 0)]
        utimensat(AT_FDCWD, box.pidDir + "/recycled.pid", &old, 0)
        Proc.stopAndReap(owner)
        var newcomer: Int32 = 0
        for _ in 0..<50 {
            try? "\(owner - 1)".write(toFile: "/proc/sys/kernel/ns_last_pid", atomically: false, encoding: .utf8)
            let candidate = Proc.startSleep()
            if candidate == owner {
                newcomer = candidate
                break
            }
            Proc.stopAndReap(candidate)
        }
        defer { if newcomer > 0 { Proc.stopAndReap(newcomer) } }
        let recycled = newcomer == owner
        return try await withAgent(AgentProcess(box: box)) { agent, requester in
            for target in ["stranger", "recycled"] {
                let reply = try await requester.call(
                    Requester.body(action: "unmount", node: agent.nodeID, target: target, path: box.mountPath(target)),
                    node: agent.nodeID)
                row.sent += 1
                if reply?.successMsg == "Target not mounted at \(box.mountPath(target))" {
                    row.answered += 1
                } else {
                    row.lost += 1
                }
            }
            if !Proc.isLive(stranger) { row.wrongKills += 1 }
            if recycled, !Proc.isLive(newcomer) { row.wrongKills += 1 }
            if FileManager.default.fileExists(atPath: box.pidDir + "/stranger.pid")
                || FileManager.default.fileExists(atPath: box.pidDir + "/recycled.pid")
            {
                row.orphanedProcesses += 1
            }
            if !recycled { row.scenario += " [no PID recycled]" }
            return row
        }
    }

    // MARK: Two agents, one PID directory

    func twoAgentsOnOnePIDDirectory() async throws -> ChaosRow {
        var row = ChaosRow(scenario: "two agents on one PID dir")
        let box = TestEnv.makeSandbox("chaos-two")
        defer { box.tearDown() }
        let first = AgentProcess(box: box)
        try await first.start()
        defer { first.stop() }
        let second = AgentProcess(nodeID: first.nodeID, box: box)
        _ = try? await second.start(waitForConsuming: false)
        if second.wait() != 3 { row.agentCrashes += 1 }  // exit 3: refused, by design
        return try await withRequester { requester in
            let reply = try await requester.call(
                Requester.body(action: "mount", node: first.nodeID, target: "w1", path: box.mountPath("w1")),
                node: first.nodeID)
            row.sent = 1
            if reply?.status == .success { row.answered = 1 } else { row.lost = 1 }
            audit(&row, box: box, expectMounted: ["w1"], allTargets: ["w1"])
            _ = try await requester.call(
                Requester.body(action: "unmount", node: first.nodeID, target: "w1", path: box.mountPath("w1")),
                node: first.nodeID)
            if !Proc.isLive(first.pid) { row.agentCrashes += 1 }
            return row
        }
    }

    // MARK: Full disk under the PID directory

    func fullDisk() async throws -> ChaosRow {
        var row = ChaosRow(scenario: "full disk under the PID dir")
        let box = TestEnv.makeSandbox("chaos-disk")
        defer { box.tearDown() }
        try FileManager.default.createDirectory(atPath: box.pidDir, withIntermediateDirectories: true)
        _ = Proc.shell("mount -t tmpfs -o size=16k chaos \(box.pidDir)")
        defer { umount2(box.pidDir, Int32(MNT_DETACH)) }
        let agent = AgentProcess(box: box)
        try await agent.start()
        defer { agent.stop() }
        _ = Proc.shell("dd if=/dev/zero of=\(box.pidDir)/filler bs=4k count=64 2>/dev/null")
        return try await withRequester { requester in
            let reply = try await requester.call(
                Requester.body(action: "mount", node: agent.nodeID, target: "d1", path: box.mountPath("d1")),
                node: agent.nodeID)
            row.sent = 1
            if reply?.status == .error, reply?.code == .spawnFailed, reply?.errorMsg?.contains("PID file") == true {
                row.answered = 1
            } else {
                row.lost = 1
            }
            let leftovers =
                (try? FileManager.default.contentsOfDirectory(atPath: box.pidDir))?.filter {
                    $0 != "filler" && $0 != ".dms-agent.lock" && $0 != ".jobs" && $0 != ".dms-agent.health"
                } ?? []
            // The job journal could not take the job (the agent then acks after the reply): no file may remain.
            row.orphanedProcesses +=
                (try? FileManager.default.contentsOfDirectory(atPath: box.pidDir + "/.jobs"))?.filter {
                    $0.hasSuffix(".job")
                }.count ?? 0
            row.orphanedProcesses += leftovers.count  // a half-written PID file counts against us
            audit(&row, box: box, expectMounted: [], allTargets: ["d1"])
            if !Proc.isLive(agent.pid) { row.agentCrashes += 1 }
            return row
        }
    }

    // MARK: 1,000 hostile messages

    func hostileMessages() async throws -> ChaosRow {
        var row = ChaosRow(scenario: "1,000 hostile messages")
        let box = TestEnv.makeSandbox("chaos-hostile")
        defer { box.tearDown() }
        let canary = box.root + "/outside"
        try FileManager.default.createDirectory(atPath: canary, withIntermediateDirectories: true)
        try "keep".write(toFile: canary + "/keep.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: box.mountBase, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: box.mountBase + "/evil", withDestinationPath: canary)
        return try await withAgent(AgentProcess(box: box)) { agent, requester in
            let node = agent.nodeID
            let mountsBefore = Set(MountTable.read().map(\.mountPoint))
            var bodies: [[UInt8]] = []
            var rng = SystemRandomNumberGenerator()
            let ids = [
                "../../etc/passwd", "/abs", "a\u{0}b", "..", ".", String(repeating: "x", count: 100_000), "a/b", "-rf",
                "ok\ninjected", "ünï",
            ]
            let paths = [
                canary, "/etc", box.mountBase + "/../outside", box.mountBase + "/evil/x", box.mountBase + "/evil",
                "relative", box.mountBase + "/a\u{0}b", "",
            ]
            let nfsOptions = [
                "exec", "suid", "remount", "rw,exec", "dev", "nolock,suid", "bind", "x=$(reboot)", "loop",
            ]
            while bodies.count < 1_000 {
                switch bodies.count % 10 {
                case 0:
                    bodies.append(
                        (0..<Int.random(in: 1...512, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
                case 1:
                    bodies.append(
                        Array("{\"action\": [\(bodies.count)], \"host\": {}, \"jobid\": \"\(bodies.count)x\"}".utf8))
                case 2:
                    bodies.append(
                        Array(
                            "{\"action\":\"mount\",\"host\":\"\(node)\",\"jobid\":1,\"backup_target\":{\"id\":\"\(String(repeating: "z", count: 200_000))\",\"type\":\"s3\",\"filesystem_export_mount_path\":\"/x\"}}"
                                .utf8))
                case 3:
                    bodies.append(
                        Array(
                            (String(repeating: "{\"a\":", count: 5_000) + "1" + String(repeating: "}", count: 5_000))
                                .utf8))
                case 4: bodies.append([0x7b, 0x22, 0xc3, 0x28, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])
                case 5, 6:
                    let id = ids[bodies.count % ids.count]
                    let path = paths[bodies.count % paths.count]
                    bodies.append(
                        Requester.body(
                            action: bodies.count % 2 == 0 ? "mount" : "unmount", node: node, target: id, path: path))
                case 7:
                    bodies.append(
                        Requester.body(
                            action: "mount", node: node, target: "ok\(bodies.count % 7)",
                            path: paths[bodies.count % paths.count]))
                case 8:
                    var o =
                        try JSONSerialization.jsonObject(
                            with: Data(
                                Requester.body(
                                    action: "mount", node: node, target: "nfs\(bodies.count % 5)",
                                    path: box.mountPath("nfs"), type: "nfs"))) as! [String: Any]
                    var t = o["backup_target"] as! [String: Any]
                    t["filesystem_export"] = bodies.count % 3 == 0 ? "-o exec:/x" : "10.0.0.9:/export"
                    t["nfs_mount_opts"] = nfsOptions[bodies.count % nfsOptions.count]
                    o["backup_target"] = t
                    bodies.append(Array(try JSONSerialization.data(withJSONObject: o)))
                default:
                    bodies.append(
                        Array(
                            "{\"action\":\"mount\",\"host\":\"\(node)\",\"jobid\":\(Double.random(in: 0...1, using: &rng)),\"backup_target\":null}"
                                .utf8))
                }
            }
            var sent: [String] = []
            for body in bodies { sent.append(try await requester.send(body, node: node)) }
            row.sent = sent.count
            var errors = 0
            for id in sent {
                if let reply = await requester.reply(id, timeout: 60) {
                    row.answered += 1
                    if reply.status == .error { errors += 1 }
                } else {
                    row.lost += 1
                }
            }
            // A hostile request that "succeeded":
            if errors != row.answered { row.duplicatedEffects += row.answered - errors }
            if (try? String(contentsOfFile: canary + "/keep.txt", encoding: .utf8)) != "keep" {
                row.outsideTouched += 1
            }
            if (try? FileManager.default.contentsOfDirectory(atPath: canary))?.count != 1 { row.outsideTouched += 1 }
            let mountsAfter = Set(MountTable.read().map(\.mountPoint))
            row.outsideTouched +=
                mountsAfter.subtracting(mountsBefore).filter { !$0.hasPrefix(box.mountBase + "/") }.count
            row.orphanedMounts +=
                mountsAfter.subtracting(mountsBefore).filter { $0.hasPrefix(box.mountBase + "/") }.count
            audit(&row, box: box, expectMounted: [], allTargets: [])
            if !Proc.isLive(agent.pid) { row.agentCrashes += 1 }
            return row
        }
    }

    // MARK: Secrets

    func secretsNeverLeak() async throws -> ChaosRow {
        var row = ChaosRow(scenario: "secrets never leak")
        let box = TestEnv.makeSandbox("chaos-secrets")
        defer { box.tearDown() }
        let user = "chaos\(UUID().uuidString.prefix(6).lowercased())"
        let password = "pw-\(UUID().uuidString)"
        Broker.ctl("add_user \(user) \(password)")
        Broker.ctl("set_permissions -p / \(user) '.*' '.*' '.*'")
        defer { Broker.ctl("delete_user \(user)") }
        let passwordFile = box.root + "/amqp-password"
        try password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        let accessKey = "AKIA\(UUID().uuidString.prefix(12).replacingOccurrences(of: "-", with: ""))"
        let secretKey = "sk-\(UUID().uuidString)"
        let token = "tok-\(UUID().uuidString)"
        try #"{"aws_access_key_id": "\#(accessKey)", "aws_secret_access_key": "\#(secretKey)", "bucket": "b"}"#.write(
            toFile: box.root + "/secret.json", atomically: true, encoding: .utf8)
        try token.write(toFile: box.root + "/token", atomically: true, encoding: .utf8)  // never on a command line
        let server = Proc.shell(
            "setsid python3 \(TestEnv.repoRoot)/scripts/barbican-secrets.py --port 0 --port-file \(box.root)/port --token-file \(box.root)/token --secret s=\(box.root)/secret.json > \(box.root)/barbican.log 2>&1 & echo $!"
        )
        let serverPID = Int32(server.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        defer { kill(serverPID, SIGTERM) }
        let port = try #require(await listeningPort(writtenTo: box.root + "/port"), "the Barbican stand-in listens")
        let url = TestEnv.amqpURL.replacingOccurrences(of: "guest:guest@", with: "\(user)@")
        let agent = AgentProcess(
            box: box,
            extraArguments: ["--rabbitmq-url", url, "--rabbitmq-password-file", passwordFile, "--log-format", "json"],
            extraEnvironment: ["DMS_RABBITMQ_URL=amqp://\(user):\(password)@127.0.0.1:1/"])
        try await agent.start()
        return try await withRequester { requester in
            let ref = "http://127.0.0.1:\(port)/v1/secrets/s"
            var replies: [[UInt8]] = []
            for (i, action) in ["mount", "status", "unmount"].enumerated() {
                let id = try await requester.send(
                    Requester.body(
                        action: action, node: agent.nodeID, target: action == "status" ? nil : "s1",
                        path: box.mountPath("s1"),
                        secretRef: ref, token: token, jobid: i), node: agent.nodeID)
                row.sent += 1
                if await requester.reply(id) != nil {
                    row.answered += 1
                    replies.append(requester.rawReply(id) ?? [])
                } else {
                    row.lost += 1
                }
                if action == "mount", let pid = (try? JobReply.decode(requester.rawReply(id) ?? []))?.pid {
                    let cmdlines =
                        (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { Int32($0) }
                        .compactMap { FileManager.default.contents(atPath: "/proc/\($0)/cmdline") }.map {
                            String(decoding: $0, as: UTF8.self)
                        } ?? []
                    for c in cmdlines where [accessKey, secretKey, token, password].contains(where: c.contains) {
                        row.secretLeaks += 1
                    }
                    let environ = String(
                        decoding: FileManager.default.contents(atPath: "/proc/\(pid)/environ") ?? Data(), as: UTF8.self)
                    if environ.contains(password) || environ.contains("DMS_RABBITMQ_URL")
                        || environ.contains("127.0.0.1:1")
                    {
                        row.secretLeaks += 1
                    }
                    let pidFile = (try? String(contentsOfFile: box.pidDir + "/s1.pid", encoding: .utf8)) ?? ""
                    if [accessKey, secretKey, token, password].contains(where: pidFile.contains) {
                        row.secretLeaks += 1
                    }
                }
            }
            agent.stop()
            var haystack = agent.log() + replies.map { String(decoding: $0, as: UTF8.self) }.joined()
            haystack +=
                (try? FileManager.default.contentsOfDirectory(atPath: box.logDir))?.compactMap {
                    try? String(contentsOfFile: box.logDir + "/" + $0, encoding: .utf8)
                }.joined() ?? ""
            for secret in [accessKey, secretKey, token, password] where haystack.contains(secret) {
                row.secretLeaks += 1
            }
            // every JSON log line parses and carries the node id
            let lines = agent.logLines()
            let parsed = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            if parsed.count != lines.count || !parsed.allSatisfy({ $0["node_id"] != nil || $0["logger"] != nil }) {
                row.lost += 1
            }
            audit(&row, box: box, expectMounted: [], allTargets: ["s1"])
            return row
        }
    }
}
