import AMQP
import Foundation

/// What N agents cost the 3-node cluster, per agent, for each queue type and for this topology (one request queue
/// per node, one shared dead-letter queue) beside the previous one (a dead-letter queue per node too, declared here
/// as the previous agent declared it). Counted as differences from the idle cluster, each side taken after
/// `force_gc` on every node: run it alone.
///
/// The agents run in a network namespace of their own and reach the brokers over a veth pair (MTU 1500), as a
/// compute node reaches them over its NIC: on loopback (MTU 65536, BBR) the kernel gives each socket a 3.9 MB initial
/// send buffer, from which RabbitMQ 3.x sizes the connection's receive buffer at accept, and the figure is mostly
/// that artefact. The broker's side of each socket (`ss -tm`: receive and send buffer) is printed too.
enum FleetFootprint {
    /// The agents' namespace and its link: the agents are 10.232.0.2, the host (the brokers) 10.232.0.1.
    static let namespace = "dmsfp"
    static let hostAddress = "10.232.0.1"
    static let agentAddress = "10.232.0.2"

    struct Figures {
        var memoryKB: Double
        var connections: Double
        var channels: Double
        var queues: Double
        /// The broker's side of the agents' sockets, mean bytes: receive buffer, send buffer (`ss -tm`: rb, tb).
        var socketBuffers: (receive: Double, send: Double)
        /// Broker memory per agent by RabbitMQ's own categories (connection_channels, quorum_queue_procs, …).
        var breakdownKB: [String: Double]
    }

    static func run(repo: String, agents count: Int) async throws {
        print("== fleet footprint: \(count) agents on the 3-node cluster, per agent")
        let cluster = repo + "/scripts/cluster.sh"
        _ = shell("\(cluster) start")
        guard createNamespace() else {
            print("cannot create the network namespace \(namespace) and its veth pair (root and iproute2 needed)")
            return
        }
        defer { deleteNamespace() }
        line("agents' link to the brokers", "veth pair, MTU \(linkMTU()), \(agentAddress) → \(hostAddress)")
        for type in ["classic", "quorum"] {
            for previous in [false, true] {
                let f = try await measure(repo: repo, cluster: cluster, agents: count, type: type, previous: previous)
                line(
                    "\(type), \(previous ? "previous topology (a .dead per node)" : "shared trilio_dms.dead")",
                    String(
                        format: "%.0f KB broker memory, %.1f connections, %.1f channels, %.2f queues", f.memoryKB,
                        f.connections, f.channels, f.queues))
                line(
                    "  broker's socket per connection",
                    String(
                        format: "receive buffer %.0f KB, send buffer %.0f KB", f.socketBuffers.receive / 1024,
                        f.socketBuffers.send / 1024))
                let top = f.breakdownKB.sorted { $0.value > $1.value }.prefix(5)
                line("  of which", top.map { String(format: "%@ %.0f KB", $0.key, $0.value) }.joined(separator: ", "))
            }
        }
    }

    static func createNamespace() -> Bool {
        deleteNamespace()
        let out = shell(
            """
            ip netns add \(namespace) && ip link add \(namespace)h type veth peer name \(namespace)a \
            && ip link set \(namespace)a netns \(namespace) \
            && ip addr add \(hostAddress)/24 dev \(namespace)h && ip link set \(namespace)h mtu 1500 up \
            && ip netns exec \(namespace) ip addr add \(agentAddress)/24 dev \(namespace)a \
            && ip netns exec \(namespace) ip link set \(namespace)a mtu 1500 up \
            && ip netns exec \(namespace) ip link set lo up && echo ok
            """)
        return out.contains("ok")
    }

    static func deleteNamespace() {
        _ = shell("ip link del \(namespace)h 2>/dev/null; ip netns del \(namespace) 2>/dev/null; true")
    }

    static func linkMTU() -> String {
        shell("cat /sys/class/net/\(namespace)h/mtu").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Mean receive and send buffer (bytes) of the brokers' sockets to the agents' address.
    static func brokerSocketBuffers() -> (receive: Double, send: Double) {
        let out = shell("ss -tmnH state established dst \(agentAddress)")
        var receive: [Double] = []
        var send: [Double] = []
        for skmem in out.split(separator: "\n").filter({ $0.contains("skmem:(") }) {
            for field in skmem.split(whereSeparator: { $0 == "(" || $0 == "," || $0 == ")" }) {
                if field.hasPrefix("rb"), let v = Double(field.dropFirst(2)) { receive.append(v) }
                if field.hasPrefix("tb"), let v = Double(field.dropFirst(2)) { send.append(v) }
            }
        }
        func mean(_ values: [Double]) -> Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }
        return (mean(receive), mean(send))
    }

    static func forceGC(_ cluster: String) {
        for n in 1...3 { _ = shell("\(cluster) ctl \(n) force_gc >/dev/null 2>&1") }
    }

    static func counts(_ cluster: String) -> (connections: Int, channels: Int, queues: Int) {
        func count(_ what: String) -> Int {
            Int(
                shell("\(cluster) ctl 1 \(what) -q --no-table-headers name 2>/dev/null | grep -c . || true")
                    .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        return (count("list_connections"), count("list_channels"), count("list_queues"))
    }

    static func measure(repo: String, cluster: String, agents count: Int, type: String, previous: Bool) async throws
        -> Figures
    {
        let url = shell("\(cluster) urls").trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "127.0.0.1", with: hostAddress)
        let tag = "fp-\(getpid())-\(type.prefix(1))\(previous ? "p" : "s")"
        let root = "/tmp/dms-bench/\(tag)"
        let dead = "\(tag).dead"
        _ = shell("rm -rf \(root) && mkdir -p \(root)")
        sleep(2)
        forceGC(cluster)
        let memoryBefore = FleetBench.brokerMemory(cluster)
        let before = counts(cluster)
        let nodes = (0..<count).map { "\(tag)-\($0)" }
        var pids: [Int32] = []
        for node in nodes {
            let dir = "\(root)/\(node)"
            try FileManager.default.createDirectory(atPath: dir + "/mnt", withIntermediateDirectories: true)
            pids.append(
                FleetBench.startAgent(
                    repo: repo, url: url, node: node, directory: dir, queueType: type,
                    extra: ["--dead-letter-queue", dead],
                    launcher: ["/usr/bin/nsenter", "--net=/var/run/netns/\(namespace)", "--"]))
        }
        let started = now()
        while now() - started < 180_000, nodes.contains(where: { !FleetBench.log($0, root).contains("consuming") }) {
            usleep(200_000)
        }
        if previous {
            // The previous agent's second queue, declared with the same arguments it used.
            let arguments: [String: AMQPFieldValue] = type == "quorum" ? ["x-queue-type": .string("quorum")] : [:]
            var config = try AMQPConfiguration(url: url)
            config.connectionName = "footprint"
            let declarer = AMQPClient(
                configuration: config,
                topology: .init(queues: nodes.map { .init(name: "dms.\($0).dead", arguments: arguments) }))
            try await declarer.start(timeout: .seconds(120))
            await declarer.close()
        }
        sleep(5)
        let buffers = brokerSocketBuffers()
        forceGC(cluster)
        let after = counts(cluster)
        let memoryAfter = FleetBench.brokerMemory(cluster)
        for pid in pids { kill(pid, SIGTERM) }
        for pid in pids { reap(pid) }
        for node in nodes {
            _ = shell("\(cluster) ctl 1 delete_queue dms.\(node) >/dev/null 2>&1")
            if previous { _ = shell("\(cluster) ctl 1 delete_queue dms.\(node).dead >/dev/null 2>&1") }
        }
        _ = shell("\(cluster) ctl 1 delete_queue \(dead) >/dev/null 2>&1; rm -rf \(root)")
        let n = Double(max(1, count))
        return Figures(
            memoryKB: (memoryAfter.total - memoryBefore.total) / 1024 / n,
            connections: Double(after.connections - before.connections) / n,
            channels: Double(after.channels - before.channels) / n, queues: Double(after.queues - before.queues) / n,
            socketBuffers: buffers,
            breakdownKB: memoryAfter.categories.merging(memoryBefore.categories.mapValues { -$0 }, uniquingKeysWith: +)
                .mapValues { $0 / 1024 / n })
    }
}
