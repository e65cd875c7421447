import AMQP
import Foundation
import TestSupport
import Testing

/// `dms-agent doctor`: each check made to fail on purpose, with its verdict and fix.
@Suite(.onTheBlockingPool, .serialized, .timeLimit(.minutes(6)), .needsEverything)
struct DoctorTests {
    struct Result {
        var status: Int32
        var checks: [[String: Any]]
        func check(_ prefix: String) -> [String: Any]? {
            checks.first { ($0["check"] as? String)?.hasPrefix(prefix) == true }
        }
        func verdict(_ prefix: String) -> String? { check(prefix)?["verdict"] as? String }
        func text(_ prefix: String) -> String {
            "\(check(prefix)?["detail"] ?? "") | fix: \(check(prefix)?["fix"] ?? "-")"
        }
    }

    static let shortHost = Proc.shell("hostname -s").output.trimmingCharacters(in: .whitespacesAndNewlines)

    func doctor(
        _ box: Sandbox, node: String, url: String = TestEnv.amqpURL, extra: String = "",
        binary: String = TestEnv.fakeFuse, mountBase: String? = nil
    ) -> Result {
        let out = Proc.shell(
            "\(AgentProcess.binary) doctor --json --rabbitmq-url '\(url)' --node-id \(node) --pid-dir \(box.pidDir) "
                + "--mount-base \(mountBase ?? box.mountBase) --s3vaultfuse-bin \(binary) --metrics-listen none \(extra) 2>/dev/null"
        )
        let checks = (try? JSONSerialization.jsonObject(with: Data(out.output.utf8)) as? [[String: Any]]) ?? []
        return Result(status: out.status, checks: checks)
    }

    @Test func aHealthyNodePassesAndASecondConsumerIsCaught() async throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let node = Self.shortHost
        let agent = AgentProcess(nodeID: node, box: box)
        try await agent.start()
        defer { agent.stop() }
        let healthy = doctor(box, node: node)
        #expect(healthy.status == 0, "\(healthy.checks)")
        #expect(healthy.verdict("broker") == "ok" && healthy.verdict("queue dms.\(node) type") == "ok")
        #expect(healthy.verdict("queue dms.\(node) consumers") == "ok" && healthy.verdict("node id") == "ok")
        // The old Python server (or a second agent) with the same node id consumes beside it.
        var config = try AMQPConfiguration(url: TestEnv.amqpURL)
        config.connectionName = "old-python-server"
        let old = AMQPClient(configuration: config, consumer: .init(queue: "dms.\(node)", prefetch: 1))
        try await old.start(timeout: .seconds(10))
        let shared = doctor(box, node: node)
        #expect(shared.status != 0 && shared.verdict("queue dms.\(node) consumers") == "fail")
        #expect(shared.text("queue dms.\(node) consumers").contains("2: besides this agent"), "\(shared.text("queue"))")
        await old.close()
    }

    @Test func brokerRefusalsNameTheFix() throws {
        let box = TestEnv.makeSandbox()
        let password = doctor(
            box, node: Self.shortHost, url: TestEnv.amqpURL.replacingOccurrences(of: "guest:guest", with: "guest:wrong")
        )
        #expect(password.status != 0 && password.verdict("broker") == "fail")
        #expect(
            password.text("broker").contains("ACCESS_REFUSED") && password.text("broker").contains("user or password"))
        let vhost = doctor(box, node: Self.shortHost, url: TestEnv.amqpURL + "no-such-vhost")
        #expect(
            vhost.verdict("broker") == "fail" && vhost.text("broker").contains("vhost no-such-vhost does not exist"),
            "\(vhost.text("broker"))")
    }

    @Test func theQueueNoConsumerAndATypeMismatch() async throws {
        let box = TestEnv.makeSandbox()
        let node = "doc-\(UUID().uuidString.prefix(6).lowercased())"
        let missing = doctor(box, node: node)
        #expect(missing.verdict("queue dms.\(node)") == "warn" && missing.text("queue").contains("does not exist"))
        var config = try AMQPConfiguration(url: TestEnv.amqpURL)
        config.connectionName = "other-declarer"
        let other = AMQPClient(
            configuration: config,
            topology: .init(queues: [.init(name: "dms.\(node)", arguments: ["x-queue-type": .string("quorum")])]))
        try await other.start(timeout: .seconds(10))
        await other.close()
        defer { Broker.ctl("delete_queue dms.\(node)") }
        let classic = doctor(box, node: node)
        #expect(
            classic.verdict("queue dms.\(node) type") == "fail"
                && classic.text("queue dms.\(node) type").contains("inequivalent arg 'x-queue-type'"))
        #expect(classic.text("queue dms.\(node) type").contains("rabbitmq_queue_type"))
        #expect(
            classic.verdict("queue dms.\(node) consumers") == "warn"
                && classic.text("queue dms.\(node) consumers").contains("no agent serves"))
        let quorum = doctor(box, node: node, extra: "--rabbitmq-queue-type quorum")
        #expect(quorum.verdict("queue dms.\(node) type") == "ok")
    }

    @Test func aNodeIDThatIsNeitherHostName() {
        let result = doctor(TestEnv.makeSandbox(), node: "not-this-host")
        #expect(result.status != 0 && result.verdict("node id") == "fail")
        #expect(
            result.text("node id").contains("neither hostname -f")
                && result.text("node id").contains("openstack compute service list"))
        #expect(doctor(TestEnv.makeSandbox(), node: Self.shortHost).verdict("node id") == "ok")
    }

    @Test func aPrivateMountBaseAndABinaryThatCannotRun() throws {
        let box = TestEnv.makeSandbox()
        defer { box.tearDown() }
        let root = box.root + "/hostpath"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        #expect(Proc.shell("mount -t tmpfs -o size=1m dms-doctor \(root) && mount --make-private \(root)").status == 0)
        defer { Proc.shell("umount \(root)") }
        try FileManager.default.createDirectory(atPath: root + "/mounts", withIntermediateDirectories: true)
        let priv = doctor(box, node: Self.shortHost, mountBase: root + "/mounts")
        #expect(priv.verdict("mount base") == "warn" && priv.text("mount base").contains("private propagation"))
        #expect(priv.text("mount base").contains("--make-shared"))
        Proc.shell("mount --make-shared \(root)")
        #expect(doctor(box, node: Self.shortHost, mountBase: root + "/mounts").verdict("mount base") == "ok")

        let missing = doctor(box, node: Self.shortHost, binary: box.root + "/no-such-s3vaultfuse")
        #expect(
            missing.status != 0 && missing.verdict("s3vaultfuse") == "fail"
                && missing.text("s3vaultfuse").contains("does not exist"))
        let plain = box.root + "/s3vaultfuse.py"
        try "#!/usr/bin/env python3\nprint('x')\n".write(toFile: plain, atomically: true, encoding: .utf8)
        let notExecutable = doctor(box, node: Self.shortHost, binary: plain)
        #expect(
            notExecutable.verdict("s3vaultfuse") == "fail" && notExecutable.text("s3vaultfuse").contains("chmod 755"))
        chmod(plain, 0o755)
        let script = doctor(box, node: Self.shortHost, binary: plain)
        #expect(script.verdict("s3vaultfuse") == "ok" && script.verdict("s3vaultfuse interpreter") == "ok")
    }

    /// Barbican over HTTPS with the test CA: unverifiable with the system's CAs, verified with the bundle, and an
    /// endpoint that does not answer.
    @Test func barbicanReachableOnlyWithTheRightCABundle() async throws {
        let box = TestEnv.makeSandbox()
        let tls = TestEnv.brokerDir + "/tls"
        let port = 9400 + Int(getpid() % 500)
        let server =
            Int32(
                Proc.shell(
                    "setsid python3 \(TestEnv.repoRoot)/scripts/barbican-secrets.py --port \(port) --token t "
                        + "--tls-cert \(tls)/server.pem --tls-key \(tls)/server.key > \(box.root)/barbican.log 2>&1 & echo $!"
                ).output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        defer { if server > 0 { kill(server, SIGKILL) } }
        #expect(await eventually(timeout: 10) { Gate.listening(port: port) })
        let url = "https://127.0.0.1:\(port)"
        let noBundle = doctor(box, node: Self.shortHost, extra: "--barbican-url \(url)")
        #expect(noBundle.status != 0 && noBundle.verdict("barbican") == "fail", "\(noBundle.text("barbican"))")
        #expect(noBundle.text("barbican").contains("set barbican_ca_bundle"), "\(noBundle.text("barbican"))")
        #expect(noBundle.text("barbican").contains("[tls]"), "classified by libcurl's code, not by its words")
        let bundle = doctor(
            box, node: Self.shortHost, extra: "--barbican-url \(url) --barbican-ca-bundle \(tls)/ca.pem")
        #expect(bundle.verdict("barbican") == "ok", "\(bundle.text("barbican"))")
        #expect(bundle.text("barbican").contains("verified with \(tls)/ca.pem"))
        let closed = doctor(box, node: Self.shortHost, extra: "--barbican-url http://127.0.0.1:9")
        #expect(closed.verdict("barbican") == "fail" && closed.text("barbican").contains("check barbican_url"))
        #expect(closed.text("barbican").contains("[unreachable]"), "\(closed.text("barbican"))")
        #expect(doctor(box, node: Self.shortHost).verdict("barbican") == "ok", "not configured: nothing to check")
    }
}
