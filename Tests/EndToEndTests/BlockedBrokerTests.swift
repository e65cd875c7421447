import AMQP
import DMSWire
import Foundation
import TestSupport
import Testing
import VaultFuse

/// A memory alarm blocks every publisher of the broker for longer than the publish timeout while one target
/// has a mount and then an unmount queued. The reply of the mount waits for its confirm (it is never
/// requeued), the unmount waits behind it, and the target ends as its last job says.
@Suite(.onTheBlockingPool, .serialized, .timeLimit(.minutes(5)), .needsEverything, .disruptive)
struct DisruptiveBlockedBrokerTests {
    @Test func aMemoryAlarmLongerThanThePublishTimeoutKeepsOrderAndEffect() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        try "FAKE_DELAY=3\n".write(toFile: box.root + "/global.env", atomically: true, encoding: .utf8)
        let agent = AgentProcess(box: box, extraArguments: ["--s3-env-file", box.root + "/global.env"])
        try await agent.start()
        defer { agent.stop() }
        let requester = try await Requester()
        let node = agent.nodeID
        let path = box.mountPath("slow-t")
        let mount = try await requester.send(
            Requester.body(action: "mount", node: node, target: "slow-t", path: path, jobid: 1), node: node)
        let unmount = try await requester.send(
            Requester.body(action: "unmount", node: node, target: "slow-t", path: path, jobid: 2), node: node)
        // The alarm goes on while the mount runs: its reply meets a blocked broker.
        Broker.ctl("set_vm_memory_high_watermark 0")
        defer { Broker.ctl("set_vm_memory_high_watermark 0.4") }
        #expect(
            await eventually(timeout: 20) { agent.http("/readyz").1.contains("blocks publishing") },
            "\(agent.http("/readyz"))")
        #expect(agent.http("/metrics").1.contains("dms_broker_blocked 1"))
        try await Task.sleep(nanoseconds: 35_000_000_000)  // longer than the 30 s publish timeout
        #expect(requester.rawReply(mount) == nil, "no reply can pass a blocked broker")
        #expect(MountTable.fuseMount(at: path) != nil, "the mount ran; its unmount waits behind its unconfirmed reply")
        #expect(
            agent.http("/metrics").1.contains("dms_jobs_in_flight 2")
                || agent.http("/metrics").1.contains("dms_jobs_in_flight 1"))
        Broker.ctl("set_vm_memory_high_watermark 0.4")
        let first = await requester.reply(mount, timeout: 60)
        let second = await requester.reply(unmount, timeout: 60)
        #expect(first?.successMsg == "S3 target mounted successfully at \(path)")
        #expect(second?.successMsg == "Target unmounted successfully from \(path)", "\(agent.log())")
        #expect(requester.arrivalOrder.filter { [mount, unmount].contains($0) } == [mount, unmount])
        // Nothing comes back: no requeue, no second mount.
        try await Task.sleep(nanoseconds: 5_000_000_000)
        #expect(
            MountTable.mount(at: path) == nil && Proc.fuseProcesses(under: box.mountBase).isEmpty,
            "ends as its last job says")
        #expect(Broker.queueDepth("dms.\(node)").map { $0.ready + $0.unacked } == 0)
        #expect(
            agent.logLines().filter { $0.contains("action=mount") && $0.contains("job done") }.count == 1,
            "the mount ran once")
        #expect(await eventually(timeout: 20) { agent.http("/readyz").0 == 200 })
        await requester.close()
    }
}

@Suite(.onTheBlockingPool, .timeLimit(.minutes(3)), .needsEverything)
struct RefusedPublishTests {
    /// A per-node user without write on `trilio_dms.status`: every event is refused (403 closes the publish
    /// channel), yet replies flow, the connection stays, and nothing reconnects in a loop.
    @Test func eventsTheBrokerRefusesAreNotAnOutage() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let user = "noevents-\(UUID().uuidString.prefix(8).lowercased())"
        Broker.ctl("add_user \(user) pw")
        Broker.ctl("set_permissions -p / \(user) '^dms\\..*' '^(amq\\.default|dms\\..*)$' '.*'")
        defer { Broker.ctl("delete_user \(user)") }
        let requester = try await Requester()
        var config = try AMQPConfiguration(url: TestEnv.amqpURL)
        config.connectionName = "exchange-owner"
        let owner = AMQPClient(
            configuration: config,
            topology: .init(exchanges: [
                .init(name: "trilio_dms", type: "topic"),
                .init(name: "trilio_dms.status", type: "topic"),
            ]))
        try await owner.start(timeout: .seconds(10))
        await owner.close()
        let url = TestEnv.amqpURL.replacingOccurrences(of: "guest:guest", with: "\(user):pw")
        let agent = AgentProcess(box: box, extraArguments: ["--rabbitmq-url", url, "--heartbeat-interval", "1"])
        try await agent.start()
        defer { agent.stop() }
        for i in 0..<5 {
            let reply = try await requester.call(
                Requester.body(action: "mount", node: agent.nodeID, target: "e\(i)", path: box.mountPath("e\(i)")),
                node: agent.nodeID)
            #expect(reply?.status == .success, "\(agent.log())")
        }
        try await Task.sleep(nanoseconds: 3_000_000_000)
        #expect(agent.log().contains("publish refused by the broker; channel reopened"))
        #expect(agent.http("/metrics").1.contains("dms_broker_reconnects 0"), "the refusal never drops the connection")
        #expect(agent.logLines().filter { $0.contains("reconnected") }.isEmpty)
        await requester.close()
    }
}
