import AMQP
import DMSWire
import Foundation
import LinuxSupport
import TestSupport
import Testing
import VaultFuse

/// Issue 25 against a broker that enforces a 5 s delivery acknowledgement timeout (standing in for 30 minutes):
/// every job answered exactly once (counted per correlation id), each fuse started only as often as its jobs need
/// (counted by the fake fuse itself), each target ending as its last job says, no unrelated target waiting, and the
/// broker never closing the agent's consume channel. Each test also proves the broker enforces the timeout.
@Suite(.onTheBlockingPool, .serialized, .timeLimit(.minutes(4)), .needsAckTimeoutBroker, .disruptive)
struct DisruptiveAckTimeoutTests {
    /// A consumer that never acks gets its channel closed by the broker with the 406 of an ack timeout (and the
    /// AMQP client reopens that channel alone).
    static func brokerEnforcesTheAckTimeout() async throws -> Bool {
        let queue = "ack-timeout-probe-\(UUID().uuidString.prefix(8))"
        var config = try AMQPConfiguration(url: AckTimeoutBroker.url)
        config.connectionName = "ack-timeout-probe"
        let client = AMQPClient(
            configuration: config, topology: .init(queues: [.init(name: queue, durable: false)]),
            consumer: .init(queue: queue, prefetch: 1))
        defer { AckTimeoutBroker.ctl("delete_queue \(queue)") }
        try await client.start(timeout: .seconds(10))
        try await client.publish(AMQPOutgoingMessage(exchange: "", routingKey: queue, body: [1]))
        let closed = await eventually(timeout: AckTimeoutBroker.timeoutSeconds * 4) {
            client.consumeChannelReopenCount > 0
        }
        await client.close()
        return closed
    }

    struct Run {
        let box: Sandbox
        let agent: AgentProcess
        let spawnLog: String

        /// `gated`: the slow- targets mount only once `openGate()` is called.
        init(_ name: String, arguments: [String] = [], environment: [String] = [], gated: Bool = false) throws {
            box = TestEnv.makeSandbox(name)
            spawnLog = box.root + "/spawns"
            let gate = gated ? "FAKE_GATE=\(box.root)/gate\n" : ""
            try "FAKE_SPAWN_LOG=\(spawnLog)\nFAKE_DELAY=1\n\(gate)".write(
                toFile: box.root + "/fuse.env", atomically: true, encoding: .utf8)
            agent = AgentProcess(
                box: box,
                extraArguments: [
                    "--rabbitmq-url", AckTimeoutBroker.url, "--s3-env-file", box.root + "/fuse.env", "--mount-timeout",
                    "3",
                ] + arguments, extraEnvironment: ["DMS_RABBITMQ_URL=\(AckTimeoutBroker.url)"] + environment)
        }

        func openGate() { _ = FileManager.default.createFile(atPath: box.root + "/gate", contents: Data()) }

        func spawns(_ target: String) -> Int {
            ((try? String(contentsOfFile: spawnLog, encoding: .utf8)) ?? "").split(separator: "\n")
                .filter { $0 == target }.count
        }

        func mount(_ target: String, jobid: Int = 1) -> [UInt8] {
            Requester.body(
                action: "mount", node: agent.nodeID, target: target, path: box.mountPath(target), jobid: jobid)
        }
        func unmount(_ target: String, jobid: Int = 1) -> [UInt8] {
            Requester.body(
                action: "unmount", node: agent.nodeID, target: target, path: box.mountPath(target), jobid: jobid)
        }

        /// The broker never had to close the agent's channel, and nothing is left in or held from the queue.
        func expectNoTimeoutAndEmptyQueue() async {
            #expect(!agent.log().contains("broker closed the consume channel"), "\(agent.log())")
            #expect(
                await eventually(timeout: 10) {
                    AckTimeoutBroker.queueDepth("dms.\(agent.nodeID)").map { $0.ready + $0.unacked } == 0
                })
        }
    }

    static func replies(_ requester: Requester, _ id: String) -> Int {
        requester.arrivalOrder.filter { $0 == id }.count
    }

    @Test func tenJobsOfAHungTargetHoldNeitherTheQueueNorAnUnrelatedTarget() async throws {
        async let enforced = Self.brokerEnforcesTheAckTimeout()
        let run = try Run("hung-ten", arguments: ["--workers", "4"])
        defer { run.box.tearDown() }
        try await run.agent.start()
        defer { run.agent.stop() }
        try await withRequester(url: AckTimeoutBroker.url) { requester in
            let node = run.agent.nodeID
            var hung: [String] = []
            for i in 0..<10 { hung.append(try await requester.send(run.mount("hung-a", jobid: i), node: node)) }
            try await Task.sleep(for: .milliseconds(300))
            let sent = Date()
            let healthy = try await requester.send(run.mount("ok1"), node: node)
            let reply = await requester.reply(healthy, timeout: 10)
            let waited = Date().timeIntervalSince(sent)
            #expect(reply?.status == .success, "\(run.agent.log())")
            // Its own work is a bindfs mount (well under a second); a second more is the bound.
            #expect(waited < 2, "an unrelated mount waited \(waited) s behind a hung target")
            // A second unrelated target after the hung one's jobs have waited past the ack timeout.
            try await Task.sleep(for: .seconds(AckTimeoutBroker.timeoutSeconds + 2))
            let late = try await requester.call(run.mount("ok2"), node: node, timeout: 10)
            #expect(late?.status == .success)
            for id in hung { _ = await requester.reply(id, timeout: 60) }
            for id in hung {
                #expect(Self.replies(requester, id) == 1, "one reply per job")
                #expect(requester.rawReply(id).flatMap { try? JobReply.decode($0) }?.code == .mountTimeout)
            }
            #expect(Self.replies(requester, healthy) == 1)
            #expect(run.spawns("hung-a") == 10, "one spawn per mount job, never one for a copy")
            #expect(run.spawns("ok1") == 1 && run.spawns("ok2") == 1)
            #expect(Proc.fuseProcesses(under: run.box.mountBase)["hung-a"] == nil, "every hung fuse was stopped")
            #expect(!FileManager.default.fileExists(atPath: run.box.pidDir + "/hung-a.pid"))
            #expect(MountTable.fuseMount(at: run.box.mountPath("ok1")) != nil)
            await run.expectNoTimeoutAndEmptyQueue()
        }
        #expect(try await enforced, "the broker enforces its 5 s ack timeout")
    }

    @Test func slowTargetsMountUnmountMountUnmountWithADiskAlarmLongerThanTheAckTimeout() async throws {
        async let enforced = Self.brokerEnforcesTheAckTimeout()
        let run = try Run("alarm", arguments: ["--mount-timeout", "60"], gated: true)
        defer { run.box.tearDown() }
        try await run.agent.start()
        defer { run.agent.stop() }
        try await withRequester(url: AckTimeoutBroker.url) { requester in
            let node = run.agent.nodeID
            var ids: [String: [String]] = [:]
            for target in ["slow-a", "slow-b"] {
                for body in [run.mount(target), run.unmount(target), run.mount(target), run.unmount(target)] {
                    ids[target, default: []].append(try await requester.send(body, node: node))
                }
            }
            // The first mounts wait for the gate until the alarm is on: every reply meets it.
            AckTimeoutBroker.ctl("set_disk_free_limit 100000GB")
            defer { AckTimeoutBroker.ctl("set_disk_free_limit 50MB") }
            #expect(
                await eventually(timeout: 10) {
                    AckTimeoutBroker.ctl("eval 'rabbit_alarm:get_alarms().'").output.contains("disk")
                })
            run.openGate()
            // The broker blocks a connection when it publishes: the first reply.
            #expect(await eventually(timeout: 10) { run.agent.http("/readyz").1.contains("blocks publishing") })
            try await Task.sleep(for: .seconds(AckTimeoutBroker.timeoutSeconds * 2 + 2))
            #expect(requester.arrivalOrder.isEmpty, "no reply passes the alarm")
            AckTimeoutBroker.ctl("set_disk_free_limit 50MB")
            for target in ["slow-a", "slow-b"] {
                for id in ids[target]! { _ = await requester.reply(id, timeout: 60) }
                #expect(ids[target]!.map { Self.replies(requester, $0) } == [1, 1, 1, 1], "each answered once")
                #expect(requester.arrivalOrder.filter { ids[target]!.contains($0) } == ids[target]!, "in order")
                let codes = ids[target]!.map { requester.rawReply($0).flatMap { try? JobReply.decode($0) }?.status }
                #expect(codes == [.success, .success, .success, .success], "\(run.agent.log())")
                #expect(run.spawns(target) == 2, "two mounts, two spawns")
                #expect(MountTable.mount(at: run.box.mountPath(target)) == nil, "ends unmounted, as its last job says")
            }
            try await Task.sleep(for: .seconds(2))
            #expect(requester.arrivalOrder.count == 8, "nothing answered twice later")
            #expect(Proc.fuseProcesses(under: run.box.mountBase).isEmpty)
            await run.expectNoTimeoutAndEmptyQueue()
        }
        #expect(try await enforced)
    }

    @Test func requestsWaitingBehindAHungTargetExpireUnexecutedAndAnsweredOnce() async throws {
        async let enforced = Self.brokerEnforcesTheAckTimeout()
        let run = try Run("expiry", arguments: ["--max-request-age", "5s"])
        defer { run.box.tearDown() }
        try await run.agent.start()
        defer { run.agent.stop() }
        try await withRequester(url: AckTimeoutBroker.url) { requester in
            let node = run.agent.nodeID
            // Whole seconds: 3 to 4 s old when the first runs, 6 to 7 s when the next one's turn comes.
            let stamp = UInt64(Date().timeIntervalSince1970) - 3
            var ids: [String] = []
            for i in 0..<3 {
                ids.append(try await requester.send(run.mount("hung-e", jobid: i), node: node, timestamp: stamp))
            }
            let healthy = try await requester.send(run.mount("ok-e"), node: node, timestamp: stamp)
            for id in ids + [healthy] { _ = await requester.reply(id, timeout: 60) }
            let codes = ids.map { requester.rawReply($0).flatMap { try? JobReply.decode($0) }?.code }
            // The first runs (3 to 4 s old) and times out after 3 s; the others' turn comes past 5 s: expired, not run.
            #expect(codes == [.mountTimeout, .expired, .expired], "\(run.agent.log())")
            #expect(ids.map { Self.replies(requester, $0) } == [1, 1, 1])
            #expect(run.spawns("hung-e") == 1, "an expired job starts nothing")
            #expect(requester.rawReply(healthy).flatMap { try? JobReply.decode($0) }?.status == .success)
            try await Task.sleep(for: .seconds(2))
            #expect(ids.map { Self.replies(requester, $0) } == [1, 1, 1], "never a second, different answer")
            await run.expectNoTimeoutAndEmptyQueue()
        }
        #expect(try await enforced)
    }

    /// A job that SIGKILLs the agent, under a restart loop (systemd's Restart=always), with healthy jobs before and
    /// after it: answered `attempts_exhausted` after three deaths while it ran alone, dead-lettered, and the agent
    /// serves on.
    @Test(arguments: ["classic", "quorum"])
    func aJobThatKillsTheAgentIsBoundedAndAnswered(queueType: String) async throws {
        let run = try Run(
            "poison-\(queueType)", arguments: ["--rabbitmq-queue-type", queueType],
            environment: ["DMS_FAILPOINT=kill-on-target:poison"])
        defer { run.box.tearDown() }
        let starts = Locked(0)
        let stop = Locked(false)
        let agent = run.agent
        try await agent.start()
        starts.withLock { $0 += 1 }
        let supervisor = Task.detached {
            while true {
                let status = agent.wait()
                if stop.withLock({ $0 }) { return status }
                try? await Task.sleep(for: .milliseconds(100))
                starts.withLock { $0 += 1 }
                _ = try? await agent.start(waitForConsuming: false)
            }
        }
        defer {
            stop.withLock { $0 = true }
            agent.signal(SIGTERM)
        }
        try await withRequester(url: AckTimeoutBroker.url) { requester in
            let node = agent.nodeID
            let before = try await requester.send(run.mount("h1"), node: node)
            let poison = try await requester.send(run.mount("poison"), node: node)
            let beside = try await requester.send(run.mount("h2"), node: node)
            let answer = await requester.reply(poison, timeout: 90)
            #expect(answer?.code == .attemptsExhausted, "\(agent.log())")
            #expect(answer?.errorMsg?.contains("not run again") == true)
            let after = try await requester.call(run.mount("h3"), node: node, timeout: 30)
            #expect(after?.status == .success, "the agent serves after the poison job")
            for id in [before, beside] {
                #expect(await requester.reply(id, timeout: 30)?.status == .success, "\(agent.log())")
            }
            try await Task.sleep(for: .seconds(2))
            for id in [before, poison, beside] { #expect(Self.replies(requester, id) == 1) }
            #expect(run.spawns("h1") == 1 && run.spawns("h2") == 1 && run.spawns("h3") == 1)
            #expect(run.spawns("poison") == 0, "the agent dies before the spawn, every time")
            let deaths = starts.withLock { $0 } - 1
            #expect(
                deaths >= 3 && deaths <= 4,
                "three deaths proven alone, at most one shared with the healthy jobs: \(deaths) \(agent.log())")
            let log = agent.log()
            #expect(log.components(separatedBy: "job killed the agent; not run again").count == 2)
            #expect(
                log.contains("starting") && log.contains("target_id=poison"), "the log names the job before it runs")
            #expect(agent.http("/metrics").1.contains("dms_jobs_poisoned_total 1"))
            let dead = AckTimeoutBroker.ctl(
                "list_queues -q --no-table-headers name messages | awk -F'\\t' '$1 == \"trilio_dms.dead\"'"
            ).output
            #expect(
                (Int(dead.split(separator: "\t").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0) >= 1
            )
        }
        stop.withLock { $0 = true }
        agent.signal(SIGTERM)
        _ = await supervisor.value
    }
}
