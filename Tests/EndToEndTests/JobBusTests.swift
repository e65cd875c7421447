import AMQP
import DMSWire
import Foundation
import TestSupport
import Testing
import VaultFuse

/// The agent as a subprocess on a real broker, with real FUSE mounts.
@Suite(.onTheBlockingPool, .timeLimit(.minutes(5)), .needsEverything)
struct JobBusEndToEndTests {
    @Test func s3MountReadUnmountThroughTheBrokerWithBarbicanCredentials() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let bucket = "e2e-\(UUID().uuidString.prefix(8).lowercased())"
        let accessKey = "AKIAE2E\(UUID().uuidString.prefix(6))"
        let secretKey = "sk-\(UUID().uuidString)"
        let token = "tok-\(UUID().uuidString)"
        let seeded = Proc.shell(
            """
            python3 -c "import boto3; s3=boto3.client('s3',endpoint_url='\(TestEnv.s3Endpoint)',aws_access_key_id='\(accessKey)',aws_secret_access_key='\(secretKey)',region_name='us-east-1'); s3.create_bucket(Bucket='\(bucket)'); s3.put_object(Bucket='\(bucket)',Key='backup.txt',Body=b'payload-123')"
            """)
        #expect(seeded.status == 0, "\(seeded.output)")
        let secretFile = box.root + "/secret.json"
        try """
        {"aws_access_key_id": "\(accessKey)", "aws_secret_access_key": "\(secretKey)", "bucket": "\(bucket)", "region": "us-east-1", "endpoint_url": "\(TestEnv.s3Endpoint)"}
        """.write(toFile: secretFile, atomically: true, encoding: .utf8)
        let port = Int.random(in: 20000...29999)
        let barbican = Proc.shell(
            "setsid python3 \(TestEnv.repoRoot)/scripts/barbican-secrets.py --port \(port) --token \(token) --secret bt1=\(secretFile) > \(box.root)/barbican.log 2>&1 & echo $!"
        )
        let barbicanPID = Int32(barbican.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        defer { kill(barbicanPID, SIGTERM) }
        #expect(await eventually { Proc.shell("curl -s -o /dev/null http://127.0.0.1:\(port)/").status == 0 })

        try await withAgent(AgentProcess(box: box, fuse: TestEnv.s3fsFuse)) { agent, requester in
            let path = box.mountPath("dHJpbGlvLXFh")
            let mount = try await requester.call(
                Requester.body(
                    action: "mount", node: agent.nodeID, target: "bt1", path: path,
                    secretRef: "http://127.0.0.1:\(port)/v1/secrets/bt1", token: token, jobid: 11), node: agent.nodeID)
            #expect(
                mount?.status == .success && mount?.successMsg == "S3 target mounted successfully at \(path)",
                "\(String(describing: mount))")
            #expect(MountTable.fuseMount(at: path)?.fsType == "fuse.s3fs")
            #expect((try? String(contentsOfFile: path + "/backup.txt", encoding: .utf8)) == "payload-123")
            let pid = try #require(mount?.pid)
            let cmdline = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            #expect(!cmdline.contains(secretKey) && !cmdline.contains(accessKey), "credentials never on argv")
            let environ = (try? String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8)) ?? ""
            #expect(
                !environ.contains("guest:guest") && !environ.contains("DMS_RABBITMQ"),
                "the fuse does not inherit the broker URL")

            let again = try await requester.call(
                Requester.body(
                    action: "mount", node: agent.nodeID, target: "bt1", path: path,
                    secretRef: "http://127.0.0.1:\(port)/v1/secrets/bt1", token: token, jobid: 12), node: agent.nodeID)
            #expect(again?.successMsg == "Already mounted at \(path)" && again?.pid == pid)

            let unmount = try await requester.call(
                Requester.body(action: "unmount", node: agent.nodeID, target: "bt1", path: path, jobid: 13),
                node: agent.nodeID)
            #expect(unmount?.successMsg == "Target unmounted successfully from \(path)")
            #expect(!Proc.exists(pid) && MountTable.mount(at: path) == nil)
            #expect(!FileManager.default.fileExists(atPath: box.pidDir + "/bt1.pid"))
            let notMounted = try await requester.call(
                Requester.body(action: "unmount", node: agent.nodeID, target: "bt1", path: path, jobid: 14),
                node: agent.nodeID)
            #expect(notMounted?.successMsg == "Target not mounted at \(path)")

            // wrong token → credentials_failed, nothing spawned, token never echoed
            let denied = try await requester.call(
                Requester.body(
                    action: "mount", node: agent.nodeID, target: "bt1", path: path,
                    secretRef: "http://127.0.0.1:\(port)/v1/secrets/bt1", token: "wrong-token-value", jobid: 15),
                node: agent.nodeID)
            #expect(denied?.code == .credentialsFailed && denied?.errorMsg?.contains("401") == true)
            agent.stop()
            let log = agent.log() + ((try? String(contentsOfFile: box.logDir + "/bt1.log", encoding: .utf8)) ?? "")
            for secret in [secretKey, accessKey, token, "wrong-token-value"] {
                #expect(!log.contains(secret), "secret leaked into logs")
            }
        }
    }

    @Test func threeAgentsEachRunOnlyTheirOwnNodesJobs() async throws {
        let boxes = (0..<3).map { _ in TestEnv.makeSandbox() }
        defer { boxes.forEach { $0.tearDown() } }
        let agents = boxes.map { AgentProcess(box: $0) }
        for a in agents { try await a.start() }
        defer { agents.forEach { $0.stop() } }
        try await withRequester { requester in
            for (i, a) in agents.enumerated() {
                let viaExchange = i == 1  // the shipped client publishes to the topic exchange trilio_dms
                let id = try await requester.send(
                    Requester.body(action: "mount", node: a.nodeID, target: "t\(i)", path: a.box.mountPath("t\(i)")),
                    node: a.nodeID, viaExchange: viaExchange)
                let reply = await requester.reply(id)
                #expect(reply?.status == .success && reply?.nodeID == a.nodeID)
            }
            for (i, a) in agents.enumerated() {
                let pids = try FileManager.default.contentsOfDirectory(atPath: a.box.pidDir).filter {
                    $0.hasSuffix(".pid")
                }
                #expect(pids == ["t\(i).pid"], "node \(i) ran only its own job")
            }
            // a request naming another host is refused, nothing executed
            let wrong = Requester.body(
                action: "mount", node: agents[0].nodeID, target: "x", path: agents[0].box.mountPath("x"))
            let id = try await requester.send(wrong, node: agents[1].nodeID)
            let reply = await requester.reply(id)
            #expect(reply?.code == .wrongHost && reply?.nodeID == agents[1].nodeID)
            #expect(!FileManager.default.fileExists(atPath: agents[1].box.pidDir + "/x.pid"))
            for (i, a) in agents.enumerated() {
                _ = try await requester.call(
                    Requester.body(action: "unmount", node: a.nodeID, target: "t\(i)", path: a.box.mountPath("t\(i)")),
                    node: a.nodeID)
            }
        }
    }

    @Test func malformedMessagesGetErrorRepliesAndLandInTheDeadLetterQueue() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let node = "node-\(UUID().uuidString.prefix(8).lowercased())"
        defer { Broker.ctl("delete_queue dead-\(node)") }
        let agent = AgentProcess(nodeID: node, box: box, extraArguments: ["--dead-letter-queue", "dead-\(node)"])
        try await withAgent(agent) { agent, requester in
            let bodies: [[UInt8]] = [
                Array("not json".utf8), Array("[]".utf8), Array("{}".utf8), Array("\"str\"".utf8), [0xff, 0xfe, 0x00],
                Array(#"{"action":"explode","host":"\#(node)"}"#.utf8),
                Array(#"{"action":"mount","host":"\#(node)"}"#.utf8),
                Array(#"{"action":"mount","host":"\#(node)","jobid":"abc","backup_target":{}}"#.utf8),
                Array(
                    #"{"action":"mount","host":"\#(node)","jobid":1,"backup_target":{"id":"a","type":"cifs","filesystem_export_mount_path":"/x"}}"#
                        .utf8),
                Array(
                    #"{"action":"mount","host":"\#(node)","jobid":1,"backup_target":{"id":["a"],"type":"s3","filesystem_export_mount_path":"/x"}}"#
                        .utf8),
                Array(#"{"action":"mount","host":"\#(node)","jobid":1,"backup_target":{"id":"a","type":"s3"}}"#.utf8),
                Array(#"{"action":"mount","host":5,"jobid":1}"#.utf8),
                Array(
                    #"{"action":"mount","host":"\#(node)","jobid":1,"job":7,"backup_target":{"id":"a","type":"s3","filesystem_export_mount_path":"/x"}}"#
                        .utf8),
                Array(
                    #"{"action":"mount","host":"\#(node)","jobid":1,"context":"x","backup_target":{"id":"a","type":"s3","filesystem_export_mount_path":"/x"}}"#
                        .utf8),
                Array(#"{"action":"mount","host":"\#(node)","jobid":1.5,"backup_target":{}}"#.utf8),
                Array(String(repeating: "[", count: 50_000).utf8),
                [UInt8](repeating: 0x20, count: (1 << 20) + 10),
                Array(
                    #"{"action":"unmount","host":"\#(node)","jobid":1,"backup_target":{"id":"a","type":"nfs","nfs_mount_opts":7,"filesystem_export_mount_path":"/x"}}"#
                        .utf8),
                Array(#"{"action":null,"host":"\#(node)"}"#.utf8),
                Array("{\"action\":\"mount\",\"host\":\"\(node)\",\"jobid\":1,\"backup_target\":\"s3\"}".utf8),
            ]
            #expect(bodies.count == 20)
            var ids: [String] = []
            for body in bodies { ids.append(try await requester.send(body, node: node)) }
            for id in ids {
                let reply = await requester.reply(id)
                #expect(reply?.status == .error && reply?.errorMsg?.isEmpty == false, "\(id)")
            }
            #expect(
                await eventually(every: 0.5) { await Broker.readyCount("dead-\(node)") == 20 },
                "all 20 are dead-lettered")
            // still serving
            let ok = try await requester.call(Requester.body(action: "status", node: node), node: node)
            #expect(ok?.status == .success)
            #expect(Proc.isLive(agent.pid))
        }
    }

    @Test func validButHostileTargetsAreRefusedAndTouchNothing() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        try await withAgent(AgentProcess(box: box)) { agent, requester in
            let cases: [(String, String, ReplyCode)] = [
                ("../../etc/x", box.mountPath("a"), .invalidTargetID), ("a/b", box.mountPath("a"), .invalidTargetID),
                ("ok", "/etc", .pathOutsideBase), ("ok", box.mountBase + "/../../x", .invalidRequest),
                ("ok", "relative", .invalidRequest),
            ]
            for (target, path, code) in cases {
                let reply = try await requester.call(
                    Requester.body(action: "mount", node: agent.nodeID, target: target, path: path), node: agent.nodeID)
                #expect(reply?.code == code, "\(target) \(path): \(String(describing: reply))")
            }
            let nfs = Requester.body(
                action: "mount", node: agent.nodeID, target: "n1", path: box.mountPath("n1"), type: "nfs",
                extra: [:])
            var object = try JSONSerialization.jsonObject(with: Data(nfs)) as! [String: Any]
            var target = object["backup_target"] as! [String: Any]
            target["filesystem_export"] = "10.0.0.1:/x"
            target["nfs_mount_opts"] = "rw,exec,suid"
            object["backup_target"] = target
            let reply = try await requester.call(
                Array(try JSONSerialization.data(withJSONObject: object)), node: agent.nodeID)
            #expect(reply?.code == .invalidRequest && reply?.errorMsg?.contains("not allowed") == true)
            #expect(!FileManager.default.fileExists(atPath: box.mountPath("n1")))
        }
    }

    @Test func staleRequestIsAnsweredExpired() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        try await withAgent(AgentProcess(box: box)) { agent, requester in
            let id = try await requester.send(
                Requester.body(action: "mount", node: agent.nodeID, target: "old", path: box.mountPath("old")),
                node: agent.nodeID, timestamp: UInt64(Date().timeIntervalSince1970) - 3600)
            let reply = await requester.reply(id)
            #expect(reply?.code == .expired && reply?.status == .error)
            #expect(!FileManager.default.fileExists(atPath: box.pidDir + "/old.pid"))
        }
    }

    /// Beyond `--max-pending-jobs` a request is not taken: it waits unacked in the broker, and is taken, in order, as
    /// soon as a job ends. Nothing is lost, run twice or answered twice.
    @Test func requestsBeyondTheJournalLimitWaitInTheQueueInOrder() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let spawns = box.root + "/spawns"
        let gate = box.root + "/gate"
        try "FAKE_SPAWN_LOG=\(spawns)\nFAKE_GATE=\(gate)\n".write(
            toFile: box.root + "/fuse.env", atomically: true, encoding: .utf8)
        let agent = AgentProcess(
            box: box,
            extraArguments: ["--max-pending-jobs", "1", "--s3-env-file", box.root + "/fuse.env"])
        try await withAgent(agent) { agent, requester in
            let node = agent.nodeID
            let path = box.mountPath("slow-p")
            var ids: [String] = []
            for i in 0..<3 {
                ids.append(
                    try await requester.send(
                        Requester.body(action: "mount", node: node, target: "slow-p", path: path, jobid: i), node: node)
                )
            }
            // The first mount waits for the gate: the other two stay unacked in the broker, not in the journal.
            #expect(
                await eventually(timeout: 20) { Broker.queueDepth("dms.\(node)").map(\.unacked) == 2 },
                "one job taken, two waiting unacked: \(String(describing: Broker.queueDepth("dms.\(node)")))")
            let journaled = (try? FileManager.default.contentsOfDirectory(atPath: box.pidDir + "/.jobs")) ?? []
            #expect(journaled.filter { $0.hasSuffix(".job") }.count == 1, "only the job taken is journaled")
            _ = FileManager.default.createFile(atPath: gate, contents: Data())
            for id in ids { _ = await requester.reply(id, timeout: 30) }
            #expect(requester.arrivalOrder == ids, "each answered once, in order")
            #expect(
                ids.map { requester.rawReply($0).flatMap { try? JobReply.decode($0) }?.successMsg }
                    == [ReplyText.s3Mounted(path), ReplyText.alreadyMounted(path), ReplyText.alreadyMounted(path)])
            let started = ((try? String(contentsOfFile: spawns, encoding: .utf8)) ?? "").split(separator: "\n")
            #expect(started == ["slow-p"], "one spawn")
            #expect(agent.log().contains("job journal full; deliveries wait unacked until jobs end"))
            #expect(
                await eventually(timeout: 10) { Broker.queueDepth("dms.\(node)").map { $0.ready + $0.unacked } == 0 })
        }
    }

    @Test func fastTargetIsNotDelayedBySlowMounts() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        // The slow mounts cannot finish before the test opens their gate (a file), so the order below holds however
        // slowly this test or its machine runs: a B queued behind them would get no reply at all (mount timeout 120 s).
        let gate = box.root + "/gate"
        try "FAKE_GATE=\(gate)\n".write(toFile: box.root + "/global.env", atomically: true, encoding: .utf8)
        try await withAgent(
            AgentProcess(
                box: box, extraArguments: ["--s3-env-file", box.root + "/global.env", "--mount-timeout", "120"])
        ) {
            agent, requester in
            var slow: [String] = []
            for i in 0..<3 {
                slow.append(
                    try await requester.send(
                        Requester.body(
                            action: "mount", node: agent.nodeID, target: "slow-\(i)", path: box.mountPath("slow-\(i)")),
                        node: agent.nodeID))
            }
            let bMount = try await requester.send(
                Requester.body(action: "mount", node: agent.nodeID, target: "fast", path: box.mountPath("fast")),
                node: agent.nodeID)
            let b = await requester.reply(bMount, timeout: 90)
            #expect(b?.status == .success)
            let bUnmount = try await requester.call(
                Requester.body(action: "unmount", node: agent.nodeID, target: "fast", path: box.mountPath("fast")),
                node: agent.nodeID, timeout: 90)
            #expect(bUnmount?.status == .success)
            #expect(
                slow.allSatisfy { requester.rawReply($0) == nil }, "the slow mounts are still waiting at their gate")
            #expect(FileManager.default.createFile(atPath: gate, contents: nil))
            for id in slow { #expect(await requester.reply(id, timeout: 90)?.status == .success) }
            let order = requester.arrivalOrder
            // Judged by the order the broker delivered the replies in, not by when this (possibly starved) test looked.
            #expect(
                order.firstIndex(of: bMount)! < slow.compactMap { order.firstIndex(of: $0) }.min()!,
                "B's reply came before every slow reply: B was not queued behind the gated mounts of other targets")
            for i in 0..<3 {
                _ = try await requester.call(
                    Requester.body(
                        action: "unmount", node: agent.nodeID, target: "slow-\(i)", path: box.mountPath("slow-\(i)")),
                    node: agent.nodeID)
            }
        }
    }
}

@Suite(.onTheBlockingPool, .timeLimit(.minutes(5)), .needsEverything)
struct StatusEventTests {
    @Test func eventsAreOnTheStatusExchangeWithTheirRoutingKeys() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let node = "ev-\(UUID().uuidString.prefix(8).lowercased())"
        // Subscribe before the agent starts, so node.started is seen too.
        let queue = "test.events.\(node)"
        var config = try AMQPConfiguration(url: TestEnv.amqpURL)
        config.connectionName = "test-events"
        let listener = AMQPClient(
            configuration: config,
            topology: .init(
                exchanges: [.init(name: "trilio_dms.status", type: "topic")],
                queues: [.init(name: queue, durable: false, exclusive: true, autoDelete: true)],
                bindings: [.init(queue: queue, exchange: "trilio_dms.status", routingKey: "\(node).#")]),
            consumer: .init(queue: queue, prefetch: 100))
        try await listener.start(timeout: .seconds(10))
        let events = EventLog()
        let collector = Task {
            for await d in listener.deliveries {
                events.add(d)
                await listener.ack(d)
            }
        }
        defer { collector.cancel() }

        let agent = AgentProcess(nodeID: node, box: box, extraArguments: ["--heartbeat-interval", "1"])
        try await agent.start()
        try await withRequester { requester in
            #expect(
                await eventually { events.keys.contains("\(node).node.heartbeat") },
                "node.heartbeat every --heartbeat-interval")
            let mount = try await requester.call(
                Requester.body(action: "mount", node: node, target: "e1", path: box.mountPath("e1")), node: node)
            let pid = try #require(mount?.pid)
            kill(pid, SIGKILL)  // the fuse dies on its own
            #expect(await eventually { events.keys.contains("\(node).crashed.e1") })
            let again = try await requester.call(
                Requester.body(action: "mount", node: node, target: "e1", path: box.mountPath("e1")), node: node)
            #expect(
                again?.successMsg == "S3 target mounted successfully at \(box.mountPath("e1"))",
                "the next mount after a crash works")
            _ = try await requester.call(
                Requester.body(action: "unmount", node: node, target: "e1", path: box.mountPath("e1")), node: node)
            agent.stop()
            #expect(await eventually { events.keys.contains("\(node).node.stopping") })
            let keys = events.keys
            for key in [
                "\(node).node.started", "\(node).node.heartbeat", "\(node).mounted.e1", "\(node).crashed.e1",
                "\(node).unmounted.e1", "\(node).node.stopping",
            ] {
                #expect(keys.contains(key), "missing \(key) in \(keys)")
            }
            let crashed = try #require(events.bodies.first { $0["event"] as? String == "crashed" })
            #expect(
                crashed["target_id"] as? String == "e1" && crashed["pid"] as? Int == Int(pid)
                    && crashed["mount_path"] as? String == box.mountPath("e1"))
            #expect((crashed["time"] as? String)?.hasSuffix("Z") == true)
            let heartbeat = try #require(events.bodies.first { $0["event"] as? String == "node.heartbeat" })
            #expect(
                (heartbeat["stats"] as? [String: Any])?["pid_directory"] as? String == box.pidDir,
                "the heartbeat carries the stats summary")
            #expect(MountTable.mount(at: box.mountPath("e1")) == nil)
            await listener.close()
        }
    }
}

final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var deliveries: [AMQPDelivery] = []
    func add(_ d: AMQPDelivery) {
        lock.lock()
        deliveries.append(d)
        lock.unlock()
    }
    var keys: [String] {
        lock.lock()
        defer { lock.unlock() }
        return deliveries.map(\.routingKey)
    }
    var bodies: [[String: Any]] {
        lock.lock()
        defer { lock.unlock() }
        return deliveries.compactMap { try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any] }
    }
}

@Suite(.onTheBlockingPool, .timeLimit(.minutes(3)), .needsEverything)
struct BarbicanTLSTests {
    @Test func barbicanOverTLSIsVerifiedAgainstTheConfiguredCABundle() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let token = "tok-\(UUID().uuidString)"
        let secretFile = box.root + "/secret.json"
        try #"{"aws_access_key_id": "AKIATLS", "aws_secret_access_key": "tls-secret", "bucket": "b"}"#.write(
            toFile: secretFile, atomically: true, encoding: .utf8)
        let tls = TestEnv.brokerDir + "/tls"
        let server = Proc.shell(
            "setsid python3 \(TestEnv.repoRoot)/scripts/barbican-secrets.py --port 0 --port-file \(box.root)/port --token \(token) --secret s1=\(secretFile) --tls-cert \(tls)/server.pem --tls-key \(tls)/server.key > \(box.root)/barbican.log 2>&1 & echo $!"
        )
        let serverPID = Int32(server.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        defer { kill(serverPID, SIGTERM) }
        let port = try #require(await listeningPort(writtenTo: box.root + "/port"), "the Barbican stand-in listens")
        let ref = "https://localhost:\(port)/v1/secrets/s1"

        let trusting = AgentProcess(box: box, extraArguments: ["--barbican-ca-bundle", tls + "/ca.pem"])
        try await trusting.start()
        try await withRequester { requester in
            let ok = try await requester.call(
                Requester.body(
                    action: "mount", node: trusting.nodeID, target: "t1", path: box.mountPath("t1"), secretRef: ref,
                    token: token), node: trusting.nodeID)
            #expect(ok?.status == .success, "\(String(describing: ok))")
            _ = try await requester.call(
                Requester.body(action: "unmount", node: trusting.nodeID, target: "t1", path: box.mountPath("t1")),
                node: trusting.nodeID)
            trusting.stop()

            // Without the CA bundle the throwaway certificate is refused: verification is on by default.
            let strict = AgentProcess(box: box)
            try await strict.start()
            defer { strict.stop() }
            let refused = try await requester.call(
                Requester.body(
                    action: "mount", node: strict.nodeID, target: "t2", path: box.mountPath("t2"), secretRef: ref,
                    token: token), node: strict.nodeID)
            #expect(refused?.code == .credentialsFailed, "\(String(describing: refused))")
            #expect(
                refused?.errorMsg?.lowercased().contains("certificate") == true
                    || refused?.errorMsg?.contains("SSL") == true, "\(refused?.errorMsg ?? "")")
            #expect(!FileManager.default.fileExists(atPath: box.pidDir + "/t2.pid"))
        }
    }
}
