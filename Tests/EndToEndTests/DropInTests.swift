import AMQP
import DMSWire
import Foundation
import TestSupport
import Testing
import VaultFuse

/// dms-agent in place of the Python server: the original client and the shipped publisher, queues as the
/// other side (or an operator, or the old server) left them, the s3vaultfuse environment, and requesters
/// that gave up.
@Suite(.onTheBlockingPool, .serialized, .timeLimit(.minutes(8)), .needsEverything)
struct DropInTests {
    static func mountBody(
        _ node: String, _ box: Sandbox, target: String, action: String = "mount", jobid: Int = 1,
        token: String? = nil
    ) -> [UInt8] {
        Requester.body(
            action: action, node: node, target: target, path: box.mountPath(target), token: token, jobid: jobid)
    }

    /// (client style, agent queue type): every pairing that a deployment can make work.
    @Test(arguments: [("original", "classic"), ("shipped", "classic"), ("shipped", "quorum")])
    func theClientsOfTheFieldAreServedOnOneChannel(style: String, queueType: String) async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let dead = "dead-\(UUID().uuidString.prefix(8).lowercased())"
        defer { Broker.ctl("delete_queue \(dead)") }
        let agent = AgentProcess(
            box: box, extraArguments: ["--rabbitmq-queue-type", queueType, "--dead-letter-queue", dead])
        try await agent.start()
        defer { agent.stop() }
        #expect(Broker.queueInfo("dms.\(agent.nodeID)")?.type == queueType)
        #expect(
            Broker.queueInfo("dms.\(agent.nodeID)")?.arguments.contains("x-dead-letter") == false,
            "no arguments but the type")
        // rabbitmqctl may list a quorum queue a moment after its declaration was confirmed.
        #expect(await eventually(every: 0.5) { Broker.queueInfo(dead)?.type == queueType })
        #expect(Broker.queueInfo("dms.\(agent.nodeID).dead") == nil, "one queue per node: its request queue")
        let node = agent.nodeID
        // Three calls on the client's single channel, each preceded by its own declare of dms.<node>.
        let outcome = try PythonClient.run(
            node: node,
            bodies: [
                Self.mountBody(node, box, target: "t1", jobid: 1), Self.mountBody(node, box, target: "t1", jobid: 2),
                Self.mountBody(node, box, target: "t1", action: "unmount", jobid: 3),
            ], style: style, quorum: queueType == "quorum")
        #expect(outcome.status == 0, "\(outcome.errors) \(agent.log())")
        let texts = outcome.replies.map { $0?["success_msg"] as? String }
        #expect(
            texts == [
                "S3 target mounted successfully at \(box.mountPath("t1"))", "Already mounted at \(box.mountPath("t1"))",
                "Target unmounted successfully from \(box.mountPath("t1"))",
            ])
        for reply in outcome.replies {
            #expect(reply?["status"] as? String == "success" && reply?.keys.contains("error_msg") == true)
        }
        #expect(MountTable.mount(at: box.mountPath("t1")) == nil)
        #expect(
            !FileManager.default.fileExists(atPath: box.mountPath("t1")),
            "the empty mount directory is removed, as the original does")
    }

    @Test func theOriginalClientAgainstAQuorumQueueIsTheDeploymentsMismatchNotTheAgents() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box, extraArguments: ["--rabbitmq-queue-type", "quorum"])
        try await agent.start()
        defer { agent.stop() }
        let outcome = try PythonClient.run(
            node: agent.nodeID, bodies: [Self.mountBody(agent.nodeID, box, target: "t1")])
        #expect(
            outcome.status == 4 && outcome.errors.first?.contains("PRECONDITION_FAILED") == true, "\(outcome.errors)")
        // The agent is untouched by the client's refused declare.
        let status = try PythonClient.run(
            node: agent.nodeID, bodies: [Requester.body(action: "status", node: agent.nodeID)],
            style: "shipped", quorum: true)
        #expect(status.replies.first??["status"] as? String == "success")
        #expect(agent.http("/readyz").0 == 200)
    }

    @Test func aClientWaitingBeforeTheAgentStartsGetsItsReply() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box)
        let handle = try PythonClient.start(
            node: agent.nodeID, bodies: [Self.mountBody(agent.nodeID, box, target: "early")])
        #expect(
            await eventually(timeout: 20, every: 0.5) { await Broker.readyCount("dms.\(agent.nodeID)") == 1 },
            "the client declared and published")
        try await agent.start()
        defer { agent.stop() }
        #expect(await eventually(timeout: 30) { PythonClient.outcome(of: handle) != nil })
        let outcome = try #require(PythonClient.outcome(of: handle))
        #expect(
            outcome.replies.first??["success_msg"] as? String
                == "S3 target mounted successfully at \(box.mountPath("early"))",
            "\(outcome.errors) \(agent.log())")
        #expect(MountTable.fuseMount(at: box.mountPath("early")) != nil)
    }

    /// The normal state of a node being upgraded: the Python server's queue (durable, classic, no arguments)
    /// with requests waiting; or an operator's queue with a TTL. Both consumed as they are, in order.
    @Test(arguments: [[:], ["x-message-ttl": AMQPFieldValue.int(600_000)]])
    func aQueueLeftByOthersIsConsumedAsItIsInOrder(arguments: [String: AMQPFieldValue]) async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box)
        let node = agent.nodeID
        var config = try AMQPConfiguration(url: TestEnv.amqpURL)
        config.connectionName = "old-server"
        let oldServer = AMQPClient(
            configuration: config, topology: .init(queues: [.init(name: "dms.\(node)", arguments: arguments)]))
        try await oldServer.start(timeout: .seconds(10))
        await oldServer.close()
        let requester = try await Requester()
        let ids = [
            try await requester.send(Self.mountBody(node, box, target: "a", jobid: 1), node: node, timestamp: nil),
            try await requester.send(
                Self.mountBody(node, box, target: "a", action: "unmount", jobid: 2), node: node, timestamp: nil),
            try await requester.send(Self.mountBody(node, box, target: "b", jobid: 3), node: node, timestamp: nil),
        ]
        #expect(await eventually(every: 0.5) { await Broker.readyCount("dms.\(node)") == 3 })
        try await agent.start()
        defer { agent.stop() }
        var texts: [String?] = []
        for id in ids { texts.append(await requester.reply(id)?.successMsg) }
        #expect(
            texts == [
                "S3 target mounted successfully at \(box.mountPath("a"))",
                "Target unmounted successfully from \(box.mountPath("a"))",
                "S3 target mounted successfully at \(box.mountPath("b"))",
            ], "\(agent.log())")
        #expect(MountTable.mount(at: box.mountPath("a")) == nil && MountTable.fuseMount(at: box.mountPath("b")) != nil)
        if !arguments.isEmpty {
            #expect(
                agent.log().contains("exists with other properties than configured"), "the difference is named once")
            #expect(
                Broker.queueInfo("dms.\(node)")?.arguments.contains("x-message-ttl") == true,
                "the operator's queue is untouched")
        }
        // The client of the field still declares its own way after the agent started.
        let later = try PythonClient.run(
            node: node, bodies: [Requester.body(action: "status", node: node)],
            style: arguments.isEmpty ? "original" : "shipped")
        #expect(arguments.isEmpty ? later.status == 0 : true)
        await requester.close()
    }

    @Test func aRequesterThatGaveUpLeavesNoMount() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box)
        let node = agent.nodeID
        // The original client publishes, waits, gives up: its exclusive reply queue goes with its connection.
        let gaveUp = try PythonClient.run(node: node, bodies: [Self.mountBody(node, box, target: "orphan")], timeout: 1)
        #expect(gaveUp.errors == ["Timeout after 1s"])
        let requester = try await Requester()
        let waiting = try await requester.send(Self.mountBody(node, box, target: "wanted"), node: node, timestamp: nil)
        try await agent.start()
        defer { agent.stop() }
        #expect(
            await requester.reply(waiting)?.status == .success, "a waiting requester's job still runs after a restart")
        #expect(
            MountTable.mount(at: box.mountPath("orphan")) == nil
                && Proc.fuseProcesses(under: box.mountBase)["orphan"] == nil)
        #expect(!FileManager.default.fileExists(atPath: box.pidDir + "/orphan.pid"))
        #expect(
            Broker.queueDepth("dms.\(node)")?.ready == 0 && Broker.queueDepth("dms.\(node)")?.unacked == 0,
            "acked, not requeued")
        #expect(agent.log().contains("requester gone"))
        #expect(agent.http("/metrics").1.contains("dms_requests_abandoned_total 1"))
        await requester.close()
    }

    /// Two nodes, one dead-letter queue: each copy names its node and its refusal, without the request's secrets.
    @Test(arguments: ["classic", "quorum"])
    func refusedRequestsOfTwoNodesShareOneDeadLetterQueueWithoutTheirSecrets(queueType: String) async throws {
        let boxes = [TestEnv.makeSandbox(#function + "a"), TestEnv.makeSandbox(#function + "b")]
        defer { boxes.forEach { $0.tearDown() } }
        let dead = "shared-dead-\(UUID().uuidString.prefix(8).lowercased())"
        defer { Broker.ctl("delete_queue \(dead)") }
        let arguments = ["--dead-letter-queue", dead, "--rabbitmq-queue-type", queueType]
        let agents = boxes.map { AgentProcess(box: $0, extraArguments: arguments) }
        for agent in agents { try await agent.start() }
        defer { agents.forEach { $0.stop() } }
        let token = "gAAAA-\(UUID().uuidString)"
        try await withRequester { requester in
            for (index, agent) in agents.enumerated() {
                let body = Array(
                    #"{"action":"explode\#(index)","host":"\#(agent.nodeID)","jobid":7,"keystone_token":"\#(token)","context":{"password":"pw-\#(token)"}}"#
                        .utf8)
                let id = try await requester.send(body, node: agent.nodeID)
                let reply = await requester.reply(id)
                #expect(reply?.status == .error && reply?.errorMsg == "Unknown action: explode\(index)")
                #expect(
                    !String(decoding: requester.rawReply(id) ?? [], as: UTF8.self).contains(token), "not in the reply")
            }
        }
        #expect(await eventually(every: 0.5) { await Broker.readyCount(dead) == 2 })
        #expect(Broker.queueInfo(dead)?.type == queueType)
        for agent in agents {
            #expect(Broker.queueDepth("dms.\(agent.nodeID)")?.ready == 0)
            #expect(Broker.queueInfo("dms.\(agent.nodeID).dead") == nil)
        }
        var config = try AMQPConfiguration(url: TestEnv.amqpURL)
        config.connectionName = "dead-reader"
        let reader = AMQPClient(configuration: config, consumer: .init(queue: dead))
        try await reader.start(timeout: .seconds(10))
        var iterator = reader.deliveries.makeAsyncIterator()
        var byNode: [String: AMQPDelivery] = [:]
        for _ in 0..<2 {
            let copy = try #require(await iterator.next())
            if case .string(let node) = copy.properties.headers["x-dms-node"] { byNode[node] = copy }
        }
        await reader.close()
        #expect(Set(byNode.keys) == Set(agents.map(\.nodeID)))
        for (index, agent) in agents.enumerated() {
            let copy = try #require(byNode[agent.nodeID])
            let text = String(decoding: copy.body, as: UTF8.self)
            #expect(!text.contains(token) && text.contains("\"keystone_token\":\"***\"") && text.contains("explode"))
            #expect(copy.properties.headers["x-dms-error-code"] == .string("unknown_action"))
            #expect(copy.properties.headers["x-dms-error"] == .string("Unknown action: explode\(index)"))
            #expect(copy.properties.persistent)
            #expect(!agent.log().contains(token), "never logged")
        }
    }

    @Test func theFuseGetsTheOriginalsEnvironmentWithTheOperatorsOverrides() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let envFile = box.root + "/s3vaultfuse-global.conf"
        try
            "[DEFAULT]\nhelper_command = sudo /usr/bin/trilio-dms-rootwrap /etc/triliovault-dms/rootwrap.conf privsep-helper\nvault_segment_size = 33554432\n"
            .write(toFile: envFile, atomically: true, encoding: .utf8)
        let agent = AgentProcess(box: box, extraArguments: ["--s3-env-file", envFile])
        try await agent.start()
        defer { agent.stop() }
        let requester = try await Requester()
        let reply = try await requester.call(Self.mountBody(agent.nodeID, box, target: "envtest"), node: agent.nodeID)
        let pid = try #require(reply?.pid, "\(String(describing: reply)) \(agent.log())")
        let environ = try #require(FileManager.default.contents(atPath: "/proc/\(pid)/environ"))
        let env = Dictionary(
            environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.compactMap {
                pair -> (String, String)? in
                guard let eq = pair.firstIndex(of: "=") else { return nil }
                return (String(pair[..<eq]), String(pair[pair.index(after: eq)...]))
            }, uniquingKeysWith: { $1 })
        #expect(env["vault_s3_region_name"] == "us-west-2" && env["vault_s3_auth_version"] == "DEFAULT")
        #expect(
            env["vault_s3_signature_version"] == "default" && env["vault_s3_ssl"] == "true"
                && env["vault_s3_ssl_verify"] == "true")
        #expect(
            env["bucket_object_lock"] == "false" && env["use_manifest_suffix"] == "false"
                && env["vault_s3_max_pool_connections"] == "500")
        #expect(env["log_config_append"] == "/etc/triliovault-object-store/object_store_logging.conf")
        #expect(
            env["vault_data_directory_old"] == "/var/triliovault"
                && env["vault_data_directory"] == box.mountPath("envtest"))
        #expect(
            env["helper_command"]
                == "sudo /usr/bin/trilio-dms-rootwrap /etc/triliovault-dms/rootwrap.conf privsep-helper")
        #expect(env["vault_segment_size"] == "33554432" && env["DMS_TARGET_ID"] == "envtest" && env["PATH"] != nil)
        #expect(env["vault_s3_bucket"] == nil && env["AWS_SECRET_ACCESS_KEY"] == nil, "empty values are dropped")
        await requester.close()
    }

    @Test func aRefusedTopologyKeepsTheAgentAliveAndNotReadyUntilFixed() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let user = "dropin-\(UUID().uuidString.prefix(8).lowercased())"
        Broker.ctl("add_user \(user) pw")
        Broker.ctl("set_permissions -p / \(user) '^trilio_dms.*' '.*' '.*'")
        defer { Broker.ctl("delete_user \(user)") }
        let url = TestEnv.amqpURL.replacingOccurrences(of: "guest:guest", with: "\(user):pw")
        let agent = AgentProcess(box: box, extraArguments: ["--rabbitmq-url", url])
        try await agent.start(waitForConsuming: false)
        defer { agent.stop() }
        #expect(await eventually(timeout: 20) { agent.log().contains("broker refused the topology") })
        #expect(Proc.isLive(agent.pid), "never exits over topology")
        let (code, reason) = agent.http("/readyz")
        #expect(
            code == 503 && reason.contains("dms.\(agent.nodeID)") && reason.contains("ACCESS_REFUSED"),
            "\(code) \(reason)")
        Broker.ctl("set_permissions -p / \(user) '.*' '.*' '.*'")
        #expect(await eventually(timeout: 40) { agent.http("/readyz").0 == 200 }, "\(agent.log())")
        let refusals = agent.logLines().filter { $0.contains("broker refused the topology") }.count
        #expect(refusals == 1, "one line per distinct refusal, not one per retry")
        Broker.ctl("delete_queue dms.\(agent.nodeID)")
    }

    @Test func theOriginalServerConfStartsTheAgentAlone() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let node = "conf-\(UUID().uuidString.prefix(8).lowercased())"
        let conf = box.root + "/server.conf"
        try """
        [server]
        rabbitmq_url = \(TestEnv.amqpURL)
        node_id = \(node)
        auth_url = http://keystone:5000/v3
        log_level = DEBUG
        mount_base_path = \(box.mountBase)
        s3vaultfuse_bin = \(TestEnv.fakeFuse)
        rootwrap_bin = /usr/bin/trilio-dms-rootwrap
        rootwrap_conf = /etc/triliovault-dms/rootwrap.conf
        """.write(toFile: conf, atomically: true, encoding: .utf8)
        let log = box.root + "/agent.out"
        let started = Proc.shell(
            "env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin setsid \(AgentProcess.binary) run --config-file \(conf) > \(log) 2>&1 < /dev/null & echo $!"
        )
        let pid = Int32(started.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        defer {
            kill(pid, SIGTERM)
            _ = Proc.shell("while kill -0 \(pid) 2>/dev/null; do sleep 0.1; done")
        }
        let text = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        #expect(await eventually(timeout: 30) { text().contains("consuming") }, "\(text())")
        #expect(
            text().contains("config keys not used by dms-agent")
                && text().contains("auth_url,rootwrap_bin,rootwrap_conf"))
        let outcome = try PythonClient.run(
            node: node,
            bodies: [
                Self.mountBody(node, box, target: "conf1"),
                Self.mountBody(node, box, target: "conf1", action: "unmount"),
            ])
        #expect(
            outcome.replies.map { $0?["status"] as? String } == ["success", "success"], "\(outcome.errors) \(text())")
        #expect(!text().contains("guest:guest"), "the broker password is never logged")
    }

    @Test func statusJSONCarriesTheOriginalManagersStats() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let agent = AgentProcess(box: box)
        try await agent.start()
        let requester = try await Requester()
        let reply = try await requester.call(Self.mountBody(agent.nodeID, box, target: "kept"), node: agent.nodeID)
        let pid = try #require(reply?.pid)
        agent.stop()
        await requester.close()
        let args =
            "--pid-dir \(box.pidDir) --mount-base \(box.mountBase) --log-dir \(box.logDir) --s3vaultfuse-bin \(TestEnv.fakeFuse)"
        let out = Proc.shell("\(AgentProcess.binary) status --json \(args)").output
        let status = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "\(out)")
        #expect(status["total_tracked"] as? Int == 1 && status["alive"] as? Int == 1 && status["dead"] as? Int == 0)
        #expect(status["pid_files_on_disk"] as? Int == 1 && status["pid_directory"] as? String == box.pidDir)
        #expect((status["all_pids_ever_spawned"] as? [Int]) == [Int(pid)])
        let process = try #require((status["processes"] as? [[String: Any]])?.first)
        #expect(
            process["target_id"] as? String == "kept" && process["pid"] as? Int == Int(pid)
                && process["alive"] as? Bool == true)
        #expect(
            process["pid_file"] as? String == box.pidDir + "/kept.pid" && process["pid_file_exists"] as? Bool == true)
        #expect(status["entries"] != nil, "today's fields stay")
        #expect(Proc.shell("\(AgentProcess.binary) unmount --target kept \(args)").status == 0)
        #expect(await eventually { !Proc.isLive(pid) })
    }

    @Test func severalMountBasesConfineLikeOne() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let second = box.root + "/second-root"
        let agent = AgentProcess(box: box, extraArguments: ["--mount-base", "\(box.mountBase),\(second)"])
        try await agent.start()
        defer { agent.stop() }
        let requester = try await Requester()
        let inSecond = try await requester.call(
            Requester.body(action: "mount", node: agent.nodeID, target: "r2", path: second + "/r2"),
            node: agent.nodeID)
        #expect(
            inSecond?.status == .success && MountTable.fuseMount(at: second + "/r2") != nil,
            "\(String(describing: inSecond))")
        let outside = try await requester.call(
            Requester.body(action: "mount", node: agent.nodeID, target: "r3", path: box.root + "/elsewhere/r3"),
            node: agent.nodeID)
        #expect(outside?.code == .pathOutsideBase && !FileManager.default.fileExists(atPath: box.root + "/elsewhere"))
        let unmount = try await requester.call(
            Requester.body(action: "unmount", node: agent.nodeID, target: "r2", path: second + "/r2"),
            node: agent.nodeID)
        #expect(unmount?.status == .success)
        // The empty mount directory is removed right after the reply, still in the target's turn.
        #expect(await eventually { !FileManager.default.fileExists(atPath: second + "/r2") })
        #expect(FileManager.default.fileExists(atPath: second), "never anything above the mount path")
        await requester.close()
    }
}
