import Foundation

/// N agents (the same binary, each its own node id and directories) against the 3-node cluster of
/// `scripts/cluster.sh`: status jobs to random nodes, then one broker node stops. Prints how long until every
/// agent whose consumer was on that node consumes again, the peak rate of connection attempts (each attempt
/// is a line in an agent's log: connected, reconnected or a failed endpoint), jobs lost, broker memory per
/// agent and the agents' total RSS.
enum FleetBench {
    static func run(repo: String, agents count: Int, jobs: Int) async throws {
        print("== fleet: \(count) agents on the 3-node cluster (scripts/cluster.sh), one broker node stopped")
        let cluster = repo + "/scripts/cluster.sh"
        _ = shell("\(cluster) start")
        let url = shell("\(cluster) urls").trimmingCharacters(in: .whitespacesAndNewlines)
        let root = "/tmp/dms-bench/fleet-\(getpid())"
        _ = shell("rm -rf \(root) && mkdir -p \(root)")
        let memoryBefore = brokerMemory(cluster).total
        var pids: [Int32] = []
        let nodes = (0..<count).map { "fleet-\(getpid())-\($0)" }
        for node in nodes {
            let dir = "\(root)/\(node)"
            try FileManager.default.createDirectory(atPath: dir + "/mnt", withIntermediateDirectories: true)
            pids.append(startAgent(repo: repo, url: url, node: node, directory: dir, queueType: "quorum"))
        }
        defer {
            for pid in pids { kill(pid, SIGTERM) }
            for pid in pids { reap(pid) }
            for node in nodes {
                _ = shell("\(cluster) ctl 3 delete_queue dms.\(node) >/dev/null 2>&1")
            }
        }
        let started = now()
        while now() - started < 180_000, nodes.contains(where: { !log($0, root).contains("consuming") }) {
            usleep(200_000)
        }
        let startup = (now() - started) / 1000
        let consuming = nodes.filter { log($0, root).contains("consuming") }.count
        // Settle, then measure what the agents cost the brokers and the node.
        sleep(3)
        let memoryPerAgent = (brokerMemory(cluster).total - memoryBefore) / Double(max(1, consuming))
        let totalRSS = pids.map { rssKB(pid: $0) }.reduce(0, +)

        // The requester sits on node 3; node 1 is the one that stops.
        let requester = try await BenchRequester(url: "amqp://guest:guest@127.0.0.1:5693/")
        @Sendable func burst(_ n: Int) async -> (sent: Int, answered: Int) {
            await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<n {
                    let node = nodes.randomElement()!
                    group.addTask { await requester.status(node: node, timeout: 120) != nil }
                }
                var answered = 0
                for await ok in group where ok { answered += 1 }
                return (n, answered)
            }
        }
        let before = await burst(jobs / 2)
        // Consumer connections on node 1 (the shell keeps only their names: the full listing is large).
        let onNode1Names = Set(
            shell(
                "\(cluster) ctl 3 list_connections -q --no-table-headers port client_properties | grep '^5691' | grep -o 'dms-agent@[^\"/]*\"'"
            )
            .split(separator: "\n").map { String($0.dropFirst("dms-agent@".count).dropLast()) })
        let onNode1 = nodes.filter { onNode1Names.contains($0) }
        let stopAt = Date()
        _ = shell("\(cluster) stop-node 1")
        let during = Task { await burst(jobs / 2) }
        var recovered: [Double] = []
        let deadline = now() + 180_000
        var pending = Set(onNode1)
        while !pending.isEmpty, now() < deadline {
            for node in pending {
                if let t = reconnectTime(node, root, after: stopAt) {
                    recovered.append(t)
                    pending.remove(node)
                }
            }
            usleep(100_000)
        }
        let afterStop = await during.value
        let sent = before.sent + afterStop.sent
        let answered = before.answered + afterStop.answered
        _ = shell("\(cluster) start-node 1")
        let attempts = connectionAttempts(nodes, root)
        func peak(_ times: [Double]) -> Int {
            var perSecond: [Int: Int] = [:]
            for t in times { perSecond[Int(t), default: 0] += 1 }
            return perSecond.values.max() ?? 0
        }
        let stopEpoch = stopAt.timeIntervalSince1970
        let peakAfterStop = peak(attempts.filter { $0 >= stopEpoch })
        let peakAtStart = peak(attempts.filter { $0 < stopEpoch })
        var samples = Samples()
        recovered.forEach { samples.add($0 * 1000) }
        line("agents started → all consuming", String(format: "%.1f s (%d of %d)", startup, consuming, count))
        line("agents on the stopped node", "\(onNode1.count)")
        line(
            "  consuming again after the stop",
            String(
                format: "p50 %.2f s  p99 %.2f s  max %.2f s  (%d of %d; goal ≤ 2 × 60 + 5 s)",
                samples.p50 / 1000, samples.p99 / 1000, (recovered.max() ?? .nan), recovered.count, onNode1.count))
        line("peak connection attempts after the stop", "\(peakAfterStop)/s  (goal ≤ \(count)/s)")
        line("  at start (two connections per agent)", "\(peakAtStart)/s")
        line("status jobs sent / answered / lost", "\(sent) / \(answered) / \(sent - answered)")
        line("broker memory per agent", String(format: "%.0f KB", memoryPerAgent / 1024))
        line("agents' total RSS", "\(totalRSS / 1024) MB (\(totalRSS / max(1, count)) KB each)")
        await requester.close()
    }

    static func log(_ node: String, _ root: String) -> String {
        (try? String(contentsOfFile: "\(root)/\(node)/agent.log", encoding: .utf8)) ?? ""
    }

    /// Seconds from `after` to the consumer's first reconnect.
    static func reconnectTime(_ node: String, _ root: String, after: Date) -> Double? {
        for line in log(node, root).split(separator: "\n")
        where line.contains(" reconnected ") && !line.contains("/publish") {
            if let t = timestamp(line), t >= after { return t.timeIntervalSince(after) }
        }
        return nil
    }

    /// Epoch seconds of every connection attempt of every agent.
    static func connectionAttempts(_ nodes: [String], _ root: String) -> [Double] {
        nodes.flatMap { node in
            log(node, root).split(separator: "\n").filter {
                $0.contains(" connected ") || $0.contains(" reconnected ") || $0.contains("broker endpoint failed")
            }.compactMap { timestamp($0)?.timeIntervalSince1970 }
        }
    }

    /// The agent's text log starts with an RFC 3339 time in UTC with milliseconds.
    static func timestamp(_ line: Substring) -> Date? {
        guard let first = line.split(separator: " ").first else { return nil }
        return try? Date(
            String(first),
            strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)
        )
    }

    /// One fleet agent: the built dms-agent beside this binary, its own directories, the fast fuse, a log file.
    static func startAgent(
        repo: String, url: String, node: String, directory dir: String, queueType: String, extra: [String] = [],
        launcher: [String] = []
    ) -> Int32 {
        let agentBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("dms-agent").path
        // A launcher (nsenter into a network namespace) execs the agent: the PID is the agent's.
        let command = launcher + [agentBinary]
        return spawn(
            command[0],
            Array(command.dropFirst()) + [
                "run", "--rabbitmq-url", url, "--node-id", node, "--pid-dir", dir + "/pid", "--mount-base",
                dir + "/mnt", "--log-dir", dir + "/log", "--s3vaultfuse-bin", repo + "/scripts/fake-s3vaultfuse",
                "--heartbeat-interval", "0", "--metrics-listen", "none", "--log-file", dir + "/agent.log",
                "--rabbitmq-queue-type", queueType, "--workers", "2",
            ] + extra,
            env: ["PATH=/usr/bin:/bin:/usr/sbin:/sbin"])
    }

    /// Total memory of the three nodes (`erlang`), and by RabbitMQ's own categories, in bytes: one status call
    /// per node.
    static func brokerMemory(_ cluster: String) -> (total: Double, categories: [String: Double]) {
        var total = 0.0
        var categories: [String: Double] = [:]
        for n in 1...3 {
            let out = shell("\(cluster) ctl \(n) status --formatter json 2>/dev/null")
            guard let data = out.data(using: .utf8),
                let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let memory = json["memory"] as? [String: Any]
            else { continue }
            func bytes(_ value: Any?) -> Double? { (value as? Double) ?? (value as? Int).map(Double.init) }
            total += bytes((memory["total"] as? [String: Any])?["erlang"]) ?? 0
            for (key, value) in memory
            where !["total", "strategy", "reserved_unallocated", "code", "atom"].contains(key) {
                if let b = bytes(value) { categories[key, default: 0] += b }
            }
        }
        return (total, categories)
    }
}
