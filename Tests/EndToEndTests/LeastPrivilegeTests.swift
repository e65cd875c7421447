import AMQP
import DMSWire
import Foundation
import TestSupport
import Testing
import VaultFuse

/// A broker user per node with exactly the permissions README gives, and `allowed_publishers`.
@Suite(.onTheBlockingPool, .serialized, .timeLimit(.minutes(6)), .needsEverything)
struct LeastPrivilegeTests {
    /// README's lines for node `n`, user `dms-<n>`.
    static func grant(node n: String) -> String {
        let q = n.replacingOccurrences(of: ".", with: "\\.")
        let user = "dms-\(n)"
        Broker.ctl("add_user \(user) pw-\(n)")
        Broker.ctl(
            "set_permissions -p / \(user) '^dms\\.\(q)$' '^(amq\\.default|dms\\.\(q)|trilio_dms\\.status)$' '^(dms\\.\(q)|trilio_dms)$'"
        )
        Broker.ctl("set_topic_permissions -p / \(user) trilio_dms '^dms\\.\(q)$' '^dms\\.\(q)$'")
        Broker.ctl("set_topic_permissions -p / \(user) trilio_dms.status '^\(q)\\..*' '^$'")
        return user
    }

    static func pika(_ user: String, _ password: String, _ code: String) -> String {
        let url = TestEnv.amqpURL.replacingOccurrences(of: "guest:guest", with: "\(user):\(password)")
        return Proc.shell(
            """
            python3 -c "
            import pika
            c = pika.BlockingConnection(pika.URLParameters('\(url)')); ch = c.channel()
            try:
                \(code)
                print('ALLOWED')
            except Exception as e:
                print('REFUSED', e)
            " 2>&1
            """
        ).output
    }

    @Test func aNodeServesWithItsOwnPermissionsAndCannotReachAnother() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let a = "lp-a-\(UUID().uuidString.prefix(6).lowercased())"
        let b = "lp-b-\(UUID().uuidString.prefix(6).lowercased())"
        // The shared exchanges and the dead-letter queue belong to the cloud: the operator declares them once.
        let dead = "lp-dead-\(UUID().uuidString.prefix(6).lowercased())"
        var config = try AMQPConfiguration(url: TestEnv.amqpURL)
        config.connectionName = "operator"
        let op = AMQPClient(
            configuration: config,
            topology: .init(
                exchanges: [
                    .init(name: "trilio_dms", type: "topic"),
                    .init(name: "trilio_dms.status", type: "topic"),
                ],
                queues: [.init(name: "dms.\(b)"), .init(name: dead)]))
        try await op.start(timeout: .seconds(10))
        await op.close()
        let userA = Self.grant(node: a)
        let userB = Self.grant(node: b)
        defer {
            Broker.ctl("delete_user \(userA)")
            Broker.ctl("delete_user \(userB)")
        }
        let url = TestEnv.amqpURL.replacingOccurrences(of: "guest:guest", with: "\(userA):pw-\(a)")
        let agent = AgentProcess(
            nodeID: a, box: box,
            extraArguments: ["--rabbitmq-url", url, "--allowed-publishers", "guest", "--dead-letter-queue", dead])
        try await agent.start()
        defer { agent.stop() }
        let requester = try await Requester()
        let path = box.mountPath("lp1")
        let allowed = try await requester.send(
            Requester.body(action: "mount", node: a, target: "lp1", path: path), node: a, userID: "guest")
        #expect(
            await requester.reply(allowed)?.successMsg == "S3 target mounted successfully at \(path)", "\(agent.log())")
        let unmount = try await requester.send(
            Requester.body(action: "unmount", node: a, target: "lp1", path: path), node: a, userID: "guest")
        #expect(await requester.reply(unmount)?.status == .success)
        #expect(!agent.log().contains("publish refused"), "events and replies flow with exactly these permissions")

        // No user_id, or another node's user: refused, not executed.
        let anonymous = try await requester.send(
            Requester.body(action: "mount", node: a, target: "lp2", path: box.mountPath("lp2")), node: a)
        let refused = await requester.reply(anonymous)
        #expect(refused?.code == .publisherNotAllowed && refused?.status == .error)
        #expect(MountTable.mount(at: box.mountPath("lp2")) == nil)
        let bodyFile = box.root + "/injected.json"
        try Data(Requester.body(action: "mount", node: a, target: "lp3", path: box.mountPath("lp3"))).write(
            to: URL(fileURLWithPath: bodyFile))
        let injected = Self.pika(
            userB, "pw-\(b)",
            "ch.basic_publish('', 'dms.\(a)', open('\(bodyFile)').read(), pika.BasicProperties(user_id='\(userB)'))")
        #expect(injected.contains("ALLOWED"), "the broker lets B write through the default exchange: \(injected)")
        #expect(
            await eventually {
                agent.log().contains("not one of this node's allowed publishers")
                    && agent.logLines().filter { $0.contains("refused") }.count >= 2
            })
        #expect(MountTable.mount(at: box.mountPath("lp3")) == nil)

        // Both refusals are kept in the shared dead-letter queue, which A can write but never read, purge or delete.
        #expect(await eventually(every: 0.5) { await Broker.readyCount(dead) == 2 }, "\(agent.log())")
        for code in ["ch.basic_get('\(dead)')", "ch.queue_purge('\(dead)')", "ch.queue_delete('\(dead)')"] {
            #expect(Self.pika(userA, "pw-\(a)", code).contains("REFUSED"), "\(code)")
        }
        #expect(Broker.queueDepth(dead)?.ready == 2)
        #expect(Broker.queueInfo("dms.\(a).dead") == nil, "no queue of its own for dead letters")

        // A's credentials cannot consume B's requests, copy them with a binding, or speak for B.
        #expect(Self.pika(userA, "pw-\(a)", "ch.basic_consume('dms.\(b)', lambda *x: None)").contains("REFUSED"))
        #expect(Self.pika(userA, "pw-\(a)", "ch.queue_bind('dms.\(a)', 'trilio_dms', 'dms.\(b)')").contains("REFUSED"))
        #expect(
            Self.pika(
                userA, "pw-\(a)", "ch.confirm_delivery(); ch.basic_publish('trilio_dms.status', '\(b).mounted', b'x')"
            ).contains("REFUSED"))
        #expect(
            Self.pika(userA, "pw-\(a)", "ch.exchange_declare('trilio_dms', 'fanout', durable=True)").contains(
                "REFUSED"),
            "nor reconfigure the shared exchanges")
        await requester.close()
        Broker.ctl("delete_queue dms.\(b)")
        Broker.ctl("delete_queue \(dead)")
    }
}
