import Foundation
import LinuxSupport
import Logging
import VaultFuse

enum ManagerBench {
    static func run(repo: String, url: String, rounds: Int) async throws {
        print("== manager (VaultFuse), fuse = scripts/fake-s3vaultfuse (bindfs)")
        let root = "/tmp/dms-bench/manager-\(getpid())"
        _ = shell("rm -rf \(root)")
        var config = VaultFuseConfiguration()
        config.pidDirectory = root + "/pid"
        config.mountBase = root + "/mnt"
        config.logDirectory = root + "/log"
        config.binary = repo + "/scripts/fake-s3vaultfuse"
        var logger = Logger(label: "bench")
        logger.logLevel = .error

        // The fuse alone: spawn and wait for the mount, no manager.
        var alone = Samples()
        try FileManager.default.createDirectory(atPath: config.mountBase + "/alone", withIntermediateDirectories: true)
        for _ in 0..<rounds {
            let path = config.mountBase + "/alone"
            let start = now()
            let pid = spawn(config.binary, [], env: ["PATH=/usr/bin:/bin", "vault_data_directory=\(path)"])
            _ = waitForFUSEMount(path)
            alone.add(now() - start)
            umount2(path, 0)
            reap(pid)
        }
        let manager = try S3VaultFuseManager(configuration: config, logger: logger)
        var spawnTimes = Samples()
        var killTimes = Samples()
        for i in 0..<rounds {
            let id = "t\(i % 20)"
            let start = now()
            _ = try await manager.spawn(targetID: id, mountPath: config.mountBase + "/" + id)
            spawnTimes.add(now() - start)
            let k = now()
            try await manager.stop(targetID: id)
            killTimes.add(now() - k)
        }
        line("fuse alone: spawn → mounted", alone.summary)
        line("manager.spawn → ready", spawnTimes.summary)
        line(
            "manager overhead on spawn (p50 difference)",
            String(format: "%.2f ms  (goal < 0.5 ms)", spawnTimes.p50 - alone.p50))
        line("manager.kill of a prompt process", killTimes.summary + "  (goal p50 < 5 ms)")
        manager.shutdown()

        // Recovery: 1,000 live processes of ours plus stale files.
        // The PID directory lives on tmpfs, as /run does in production.
        for total in [1_000, 10_000] {
            umount2(config.pidDirectory, Int32(MNT_DETACH))
            _ = shell("rm -rf \(config.pidDirectory)")
            try FileManager.default.createDirectory(atPath: config.pidDirectory, withIntermediateDirectories: true)
            _ = shell("mount -t tmpfs -o size=64m,mode=0755 dms-bench \(config.pidDirectory)")
            var live: [Int32] = []
            for i in 0..<1_000 {
                let id = "live-\(i)"
                let pid = spawn(
                    "/bin/sleep", ["600"],
                    env: ["DMS_TARGET_ID=\(id)", "vault_data_directory=\(config.mountBase)/\(id)"])
                live.append(pid)
                try "\(pid)\n".write(toFile: "\(config.pidDirectory)/\(id).pid", atomically: false, encoding: .utf8)
            }
            for i in 0..<(total - 1_000) {
                try "\(4_000_000 + i)\n".write(
                    toFile: "\(config.pidDirectory)/stale-\(i).pid", atomically: false, encoding: .utf8)
            }
            sync()  // the files just written must not be flushed on the clock of the recovery
            let rssBefore = rssKB()
            let recovering = try S3VaultFuseManager(configuration: config, logger: logger)
            let report = await recovering.recover()
            line(
                "recovery of \(total) PID files (1,000 live)",
                String(
                    format: "%.3f s  loaded=%d cleaned=%d%@", report.elapsed.seconds, report.loaded, report.cleaned,
                    total == 10_000 ? "  (goal < 0.2 s)" : ""))
            recovering.shutdown()
            if total == 1_000 {
                line(
                    "bench process RSS with 1,000 tracked targets",
                    "\(rssKB() / 1024) MB (\(rssBefore / 1024) MB before recovery)")
                // The agent itself: dms-agent run adopting the same 1,000 processes.
                let agentBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
                    .appendingPathComponent("dms-agent").path
                let log = root + "/agent-rss.log"
                let agent = spawn(
                    agentBinary,
                    [
                        "run", "--rabbitmq-url", url, "--node-id", "bench-rss-\(getpid())", "--pid-dir",
                        config.pidDirectory,
                        "--mount-base", config.mountBase, "--log-dir", config.logDirectory, "--s3vaultfuse-bin",
                        config.binary,
                        "--metrics-listen", "127.0.0.1:0", "--log-file", log,
                    ], env: ["PATH=/usr/bin:/bin"])
                let start = now()
                while now() - start < 20_000,
                    !((try? String(contentsOfFile: log, encoding: .utf8))?.contains("consuming") ?? false)
                { usleep(2000) }
                usleep(300_000)
                // Idle: no job, 1,000 processes watched, the AMQP heartbeat and the node.heartbeat at their defaults.
                let switchesBefore = contextSwitches(pid: agent)
                let idleStart = now()
                usleep(10_000_000)
                let switches = switchesBetween(switchesBefore, contextSwitches(pid: agent))
                let wakeUps = Double(switches) / ((now() - idleStart) / 1000)
                let agentLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                let adopted = agentLog.contains("loaded=1000") ? "1,000 adopted" : "adoption not confirmed"
                line(
                    "dms-agent RSS with 1,000 tracked targets",
                    "\(rssKB(pid: agent) / 1024) MB (\(adopted))  (goal < 25 MB)")
                line(
                    "dms-agent idle wake-ups with 1,000 tracked targets",
                    String(format: "%.1f /s over 10 s, every thread  (goal ≤ 5 /s)", wakeUps))
                kill(agent, SIGTERM)
                reap(agent)
                _ = shell(
                    "\(agentBinary) status --pid-dir \(config.pidDirectory) --mount-base \(config.mountBase) >/dev/null"
                )
            }
            for pid in live {
                kill(pid, SIGKILL)
                reap(pid)
            }
        }
        umount2(config.pidDirectory, Int32(MNT_DETACH))
        _ = shell("rm -rf \(root)")
    }
}
