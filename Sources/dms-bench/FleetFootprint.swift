import AMQP
import Foundation

/// What N agents cost the 3-node cluster, per agent, for each queue type and for this topology (one request queue
/// per node, one shared dead-letter queue) beside the previous one (a dead-letter queue per node too, declared here
/// as the previous agent declared it). Counted as differences from the idle cluster: run it alone.
enum FleetFootprint {
    struct Figures {
        var memoryKB: Double
        var connections: Double
        var channels: Double
        var queues: Double
        /// Broker memory per agent by RabbitMQ's own categories (connection_channels, quorum_queue_procs, …).
        var breakdownKB: [String: Double]
    }

    static func run(repo: String, agents count: Int) async throws {
        print("== fleet footprint: \(count) agents on the 3-node cluster, per agent")
        let cluster = repo + "/scripts/cluster.sh"
        _ = shell("\(cluster) start")
        for type in ["classic", "quorum"] {
            for previous in [false, true] {
                let f = try await measure(repo: repo, cluster: cluster, agents: count, type: type, previous: previous)
                line(
                    "\(type), \(previous ? "previous topology (a .dead per node)" : "shared trilio_dms.dead")",
                    String(
                        format: "%.0f KB broker memory, %.1f connections, %.1f channels, %.2f queues", f.memoryKB,
                        f.connections, f.channels, f.queues))
                let top = f.breakdownKB.sorted { $0.value > $1.value }.prefix(5)
                line("  of which", top.map { String(format: "%@ %.0f KB", $0.key, $0.value) }.joined(separator: ", "))
            }
        }
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
        let tag = "fp-\(getpid())-\(type.prefix(1))\(previous ? "p" : "s")"
        let root = "/tmp/dms-bench/\(tag)"
        let dead = "\(tag).dead"
        _ = shell("rm -rf \(root) && mkdir -p \(root)")
        sleep(2)
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
                    extra: ["--dead-letter-queue", dead]))
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
            breakdownKB: memoryAfter.categories.merging(memoryBefore.categories.mapValues { -$0 }, uniquingKeysWith: +)
                .mapValues { $0 / 1024 / n })
    }
}
