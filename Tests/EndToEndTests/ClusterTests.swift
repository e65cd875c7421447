import Foundation
import TestSupport
import Testing
import VaultFuse

/// The 3-node cluster of `scripts/cluster.sh` (started by `scripts/test.sh`, which sets DMS_TEST_CLUSTER).
enum Cluster {
    static var enabled: Bool { ProcessInfo.processInfo.environment["DMS_TEST_CLUSTER"] != nil }
    static let script = TestEnv.repoRoot + "/scripts/cluster.sh"
    static var url: String { Proc.shell("\(script) urls").output.trimmingCharacters(in: .whitespacesAndNewlines) }
    @discardableResult
    static func run(_ args: String) -> (status: Int32, output: String) { Proc.shell("\(script) \(args)") }

    /// A node that answers rabbitmqctl (any of the three), for cluster-wide listings.
    @discardableResult
    static func ctl(_ args: String, avoiding down: Set<Int> = []) -> String {
        for n in 1...3 where !down.contains(n) {
            let r = run("ctl \(n) \(args)")
            if r.status == 0 { return r.output }
        }
        return ""
    }

    /// The node (1...3) a connection named `name` is on, from the broker port it reached.
    static func node(ofConnection name: String, avoiding down: Set<Int> = []) -> Int? {
        for line in ctl("list_connections -q --no-table-headers port client_properties", avoiding: down).split(
            separator: "\n")
        where line.contains("\"\(name)\"") {
            if let port = Int(line.split(separator: "\t").first ?? ""), (5691...5693).contains(port) {
                return port - 5690
            }
        }
        return nil
    }

    /// The node holding a quorum queue's leader (`leader`) or a classic queue's home (`pid`, `<c2@localhost.…>`).
    static func node(ofQueue queue: String, column: String) -> Int? {
        for line in ctl("list_queues -q --no-table-headers name \(column)").split(separator: "\n") {
            let f = line.split(separator: "\t")
            if f.count == 2, f[0] == queue, let c = f[1].split(separator: "@").first?.last, let n = Int(String(c)) {
                return n
            }
        }
        return nil
    }
}

@Suite(
    .onTheBlockingPool,
    .serialized, .needsEverything, .disruptive,
    .enabled(if: Cluster.enabled, "needs scripts/cluster.sh and DMS_TEST_CLUSTER=1 (scripts/test.sh sets both)"),
    .timeLimit(.minutes(10)))
struct DisruptiveClusterTests {
    struct Row {
        var scenario: String
        var sent = 0, answered = 0, lost = 0, duplicated = 0, wrongFinal = 0
        var recovery = 0.0
    }

    enum Fault: Equatable, Sendable {
        case stopConsumerNode, stopLeader, stopHomeNode, pauseConsumerNode, partition, memoryAlarm
    }

    /// The agent's own network namespace, linked to the host by a veth pair (10.231.0.2 ↔ 10.231.0.1).
    struct Namespace {
        let name = "dmsp\(UUID().uuidString.prefix(6).lowercased())"
        var hostLink: String { name + "h" }
        func create() -> Bool {
            Proc.shell(
                """
                set -e
                ip netns add \(name)
                ip link add \(hostLink) type veth peer name \(name)a
                ip link set \(name)a netns \(name)
                ip addr add 10.231.0.1/24 dev \(hostLink) && ip link set \(hostLink) up
                ip netns exec \(name) ip addr add 10.231.0.2/24 dev \(name)a
                ip netns exec \(name) ip link set \(name)a up
                ip netns exec \(name) ip link set lo up
                """
            ).status == 0
        }
        func cut() { Proc.shell("ip link set \(hostLink) down") }
        func restore() { Proc.shell("ip link set \(hostLink) up") }
        func delete() { Proc.shell("ip link del \(hostLink) 2>/dev/null; ip netns del \(name) 2>/dev/null") }
    }

    /// Ten targets: mount (in flight when the fault hits), then unmount (sent during the fault, or after it for
    /// a classic queue, whose messages have nowhere to go while its home node is down).
    func scenario(_ name: String, queueType: String, fault: Fault, outage: Double) async throws -> Row {
        let box = TestEnv.makeSandbox(name)
        defer { box.tearDown() }
        try "FAKE_DELAY=2\n".write(toFile: box.root + "/global.env", atomically: true, encoding: .utf8)
        let namespace = Namespace()
        var agentURL = Cluster.url
        if fault == .partition {
            #expect(namespace.create(), "ip netns and veth")
            agentURL = agentURL.replacingOccurrences(of: "127.0.0.1", with: "10.231.0.1")
        }
        defer { if fault == .partition { namespace.delete() } }
        // Under a memory alarm the broker blocks a connection when it next publishes: node.heartbeat events every
        // second make sure the agent does while the alarm lasts, whatever became of the mounts' replies.
        let agent = AgentProcess(
            box: box,
            extraArguments: [
                "--rabbitmq-url", agentURL + "?heartbeat=5", "--rabbitmq-queue-type", queueType,
                "--s3-env-file", box.root + "/global.env",
            ]
                + (fault == .memoryAlarm ? ["--heartbeat-interval", "1"] : []))
        // nsenter enters only the network namespace: the agent's mounts stay in the host's mount namespace.
        if fault == .partition {
            agent.launcher = ["/usr/bin/nsenter", "--net=/var/run/netns/\(namespace.name)", "--"]
        }
        try await agent.start()
        defer { agent.stop() }
        let requester = try await Requester(url: Cluster.url, quorum: true)
        let node = agent.nodeID
        let targets = (0..<10).map { "slow-\($0)" }
        var ids: [String: [String]] = [:]
        for t in targets {
            ids[t] = [
                try await requester.send(
                    Requester.body(action: "mount", node: node, target: t, path: box.mountPath(t)), node: node)
            ]
        }
        let victim: Int
        switch fault {
        case .stopConsumerNode, .pauseConsumerNode: victim = Cluster.node(ofConnection: "dms-agent@\(node)") ?? 1
        case .stopLeader: victim = Cluster.node(ofQueue: "dms.\(node)", column: "leader") ?? 1
        case .stopHomeNode: victim = Cluster.node(ofQueue: "dms.\(node)", column: "pid") ?? 1
        case .partition: victim = 0
        case .memoryAlarm: victim = 2
        }
        let reconnectsBefore = agent.logLines().filter { $0.contains("reconnected") }.count
        let faultAt = Date()
        switch fault {
        case .partition: namespace.cut()
        case .pauseConsumerNode: Cluster.run("pause-node \(victim)")
        case .memoryAlarm:  // blocks publishers cluster-wide
            Cluster.run("ctl \(victim) set_vm_memory_high_watermark 0")
        default: Cluster.run("stop-node \(victim)")
        }
        var recovery = 0.0
        let healed = Task {
            try? await Task.sleep(nanoseconds: UInt64(outage * 1e9))
            switch fault {
            case .partition: namespace.restore()
            case .pauseConsumerNode: Cluster.run("resume-node \(victim)")
            case .memoryAlarm: Cluster.run("ctl \(victim) set_vm_memory_high_watermark 0.4")
            default: Cluster.run("start-node \(victim)")
            }
        }
        if fault == .memoryAlarm {
            #expect(
                await eventually(timeout: 20) { agent.http("/readyz").1.contains("blocks publishing") },
                "not ready while blocked")
        }
        if fault != .stopHomeNode {
            for t in targets {
                ids[t]!.append(
                    try await requester.send(
                        Requester.body(action: "unmount", node: node, target: t, path: box.mountPath(t)), node: node))
            }
        }
        // Recovery: until the agent consumes again (a reconnect), if it had to.
        if fault != .memoryAlarm,
            await eventually(
                timeout: outage + 60,
                { agent.logLines().filter { $0.contains("reconnected") }.count > reconnectsBefore })
        {
            recovery = Date().timeIntervalSince(faultAt)
        }
        await healed.value
        if fault == .stopHomeNode {
            #expect(
                await eventually(timeout: 90) { agent.http("/readyz").0 == 200 },
                "consumes again once the home node is back")
            for t in targets {
                ids[t]!.append(
                    try await requester.send(
                        Requester.body(action: "unmount", node: node, target: t, path: box.mountPath(t)), node: node))
            }
        }
        var row = Row(scenario: name)
        for t in targets {
            for id in ids[t]! {
                row.sent += 1
                if await requester.reply(id, timeout: 90) != nil { row.answered += 1 } else { row.lost += 1 }
            }
            let order = requester.arrivalOrder.filter { ids[t]!.contains($0) }
            if order.first != ids[t]![0] { row.wrongFinal += 1 }  // the unmount answered before its mount
            let spawns = agent.logLines().filter {
                $0.contains(" mounted ") && $0.split(separator: " ").contains("target_id=\(t)")
            }.count
            row.duplicated += max(0, spawns - 1)
            if MountTable.mount(at: box.mountPath(t)) != nil { row.wrongFinal += 1 }
        }
        // Failover is timed from the fault; a partition can only end with the link, so it is timed from then.
        row.recovery = fault == .partition ? max(0, recovery - outage) : recovery
        await requester.close()
        Cluster.ctl("delete_queue \(requester.replyQueue)")
        Cluster.ctl("delete_queue dms.\(node)")
        return row
    }

    /// One fault, its queue type and how long it lasts.
    struct Scenario: Sendable, CustomTestStringConvertible {
        var name: String
        var queueType: String
        var fault: Fault
        var outage: Double
        var testDescription: String { name }
    }

    static let scenarios: [Scenario] = [
        .init(name: "quorum: consumer's node stopped 10 s", queueType: "quorum", fault: .stopConsumerNode, outage: 10),
        .init(name: "quorum: leader stopped 10 s", queueType: "quorum", fault: .stopLeader, outage: 10),
        // A hung broker is left for another.
        .init(
            name: "quorum: consumer's node SIGSTOPped 25 s", queueType: "quorum", fault: .pauseConsumerNode, outage: 25),
        // A classic queue comes back with its home node.
        .init(name: "classic: home node stopped 15 s", queueType: "classic", fault: .stopHomeNode, outage: 15),
        // The agent's own link is cut for 30 s (heartbeat 5 s): its connections die on both sides, jobs finish, their
        // replies wait for the next connection, the broker redelivers what was unacked.
        .init(name: "quorum: agent's link cut 30 s (netns)", queueType: "quorum", fault: .partition, outage: 30),
        // Longer than the 30 s publish timeout: replies wait for their confirms, nothing is requeued.
        .init(
            name: "quorum: memory alarm 40 s (publishers blocked)", queueType: "quorum", fault: .memoryAlarm, outage: 40
        ),
    ]

    /// Every scenario keeps order and effect: no request lost, no effect twice, every target in its last job's state.
    /// Each prints its row of the table (`grep '^cluster |'` in the log gathers it, whatever order the cases ran in).
    @Test(arguments: scenarios)
    func aFaultKeepsOrderAndEffect(_ s: Scenario) async throws {
        let r = try await scenario(s.name, queueType: s.queueType, fault: s.fault, outage: s.outage)
        print(
            "cluster | \(r.scenario) | sent \(r.sent) | answered \(r.answered) | lost \(r.lost) | duplicated \(r.duplicated) | wrong final \(r.wrongFinal) | recovery \(String(format: "%.1f", r.recovery)) s"
        )
        #expect(r.answered == r.sent && r.lost == 0, "\(r.scenario): requests lost")
        #expect(r.duplicated == 0, "\(r.scenario): an effect happened twice")
        #expect(r.wrongFinal == 0, "\(r.scenario): a target is not in its last job's state")
    }
}
