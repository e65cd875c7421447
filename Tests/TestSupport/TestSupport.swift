import AMQP
import CLinuxProcess
import Foundation
import LinuxSupport
package import VaultFuse

/// Paths and helpers shared by the test targets. Everything here drives real processes and real mounts.
package enum TestEnv {
    package static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    package static var fakeFuse: String { repoRoot + "/scripts/fake-s3vaultfuse" }
    package static var s3fsFuse: String { repoRoot + "/scripts/s3vaultfuse-s3fs" }
    package static var amqpURL: String {
        ProcessInfo.processInfo.environment["DMS_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:\(amqpPort)/"
    }
    package static var amqpPort: Int {
        Int(ProcessInfo.processInfo.environment["DMS_TEST_AMQP_PORT"] ?? "5682") ?? 5682
    }
    package static var amqpsPort: Int {
        Int(ProcessInfo.processInfo.environment["DMS_TEST_AMQPS_PORT"] ?? "5681") ?? 5681
    }
    package static var brokerDir: String { ProcessInfo.processInfo.environment["DMS_BROKER_DIR"] ?? "/tmp/dms-broker" }
    package static var s3Endpoint: String {
        "http://127.0.0.1:\(ProcessInfo.processInfo.environment["DMS_TEST_S3_PORT"] ?? "5690")"
    }

    /// A fresh directory tree for one test: pid/, mnt/, log/.
    package static func makeSandbox(_ name: String = #function) -> Sandbox { Sandbox(name: name) }
}

package struct Sandbox: Sendable {
    package let root: String
    package var pidDir: String { root + "/pid" }
    package var mountBase: String { root + "/mnt" }
    package var logDir: String { root + "/log" }

    init(name: String) {
        let clean = name.filter { $0.isLetter || $0.isNumber }.prefix(24)
        root = "/tmp/dms-test/\(clean)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    package func configuration(
        binary: String = TestEnv.fakeFuse, killTimeout: Duration = .seconds(3), mountTimeout: Duration = .seconds(10)
    )
        -> VaultFuseConfiguration
    {
        var c = VaultFuseConfiguration()
        c.pidDirectory = pidDir
        c.mountBase = mountBase
        c.logDirectory = logDir
        c.binary = binary
        c.killTimeout = killTimeout
        c.mountTimeout = mountTimeout
        return c
    }

    package func mountPath(_ name: String) -> String { mountBase + "/" + name }

    /// Unmounts whatever a failed test left below the sandbox.
    package func tearDown() {
        for entry in MountTable.read().reversed() where entry.mountPoint.hasPrefix(root + "/") {
            umount2(entry.mountPoint, Int32(MNT_DETACH))
        }
    }
}

package enum Proc {
    /// True while the PID names a process that is not a zombie.
    package static func isLive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    package static func exists(_ pid: Int32) -> Bool { kill(pid, 0) == 0 || errno == EPERM }

    package static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }

    /// Starts a long-lived unrelated process (a `sleep`), returning its PID. Reap it with `reap`.
    package static func startSleep(seconds: Int = 600) -> Int32 {
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("\(seconds)"), nil]
        defer { argv.forEach { free($0) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        keepOnlyStdio(&actions)
        posix_spawn(&pid, "/bin/sleep", &actions, nil, &argv, environ)
        return pid
    }

    package static func stopAndReap(_ pid: Int32) {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    /// Runs a shell command, returning its exit status and output. (Foundation.Process on Linux can miss
    /// its child's exit when another component reaps children by pidfd, so the tests spawn directly.)
    @discardableResult
    package static func shell(_ command: String) -> (status: Int32, output: String) {
        // Through a file: a helper command keeps at most 64 KiB of output, and a listing of a test broker's queues
        // is longer.
        let file = NSTemporaryDirectory() + "dms-shell-\(UUID().uuidString)"
        defer { unlink(file) }
        let status = CommandRunner.run(
            "/bin/sh", ["-c", "(\(command)) > \(file) 2>&1"],
            environment: [
                "PATH=\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"):/usr/sbin:/sbin", "HOME=/root",
            ]
        ).status
        // Decoded leniently, as before: rabbitmqctl's listings may hold bytes that are not UTF-8 (client properties).
        return (status, String(decoding: FileManager.default.contents(atPath: file) ?? Data(), as: UTF8.self))
    }
}

/// Polls a condition until it holds or the timeout passes (for asserting eventual outcomes, not timing).
/// `every`: the pause between checks; a check that runs rabbitmqctl (an Erlang VM start, ~0.5 s of CPU) polls
/// at 0.5 s so that parallel tests do not starve each other.
package func eventually(timeout: Double = 10, every: Double = 0.02, _ condition: () async -> Bool) async -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if await condition() { return true }
        try? await Task.sleep(nanoseconds: UInt64(every * 1e9))
    }
    return await condition()
}

/// The port a test server wrote to `file` once it listens (it bound port 0: never a guess in the ephemeral range).
package func listeningPort(writtenTo file: String, timeout: Double = 10) async -> Int? {
    var port: Int?
    _ = await eventually(timeout: timeout) {
        port = (try? String(contentsOfFile: file, encoding: .utf8)).flatMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return port != nil
    }
    return port
}

package enum Broker {
    /// rabbitmqctl against the test node.
    @discardableResult
    package static func ctl(_ args: String) -> (status: Int32, output: String) {
        Proc.shell("\(TestEnv.repoRoot)/scripts/broker.sh ctl \(args)")
    }

    /// Closes every connection whose connection_name is `name` (as an operator or a network fault would).
    @discardableResult
    package static func closeConnections(named name: String) -> Int {
        let list = ctl("list_connections -q --no-table-headers pid client_properties").output
        var closed = 0
        for line in list.split(separator: "\n") where line.contains("\"\(name)\"") {
            guard let pid = line.split(separator: "\t").first else { continue }
            if ctl("close_connection '\(pid)' test-fault").status == 0 { closed += 1 }
        }
        return closed
    }

    /// Channels open on each connection whose connection_name starts with `prefix`, by connection_name.
    package static func channels(ofConnectionsNamed prefix: String) -> [String: Int] {
        let list = ctl("list_connections -q --no-table-headers channels client_properties").output
        var found: [String: Int] = [:]
        for line in list.split(separator: "\n") {
            // `{"connection_name","dms-agent@n"}` (or with `longstr,` before the value, as older brokers print it).
            guard let channels = Int(line.split(separator: "\t").first ?? ""),
                let key = line.range(of: #""connection_name",(longstr,)?""#, options: .regularExpression),
                let end = line[key.upperBound...].firstIndex(of: "\"")
            else { continue }
            let name = line[key.upperBound..<end]
            if name.hasPrefix(prefix) { found[String(name)] = channels }
        }
        return found
    }

    /// The queue's ready messages by a passive declare over AMQP (what rabbitmqctl would say, without starting an
    /// Erlang VM: the polls of the tests use this); nil when the queue does not exist or the broker is unreachable.
    package static func readyCount(_ queue: String, url: String = TestEnv.amqpURL) async -> Int? {
        guard let configuration = try? AMQPConfiguration(url: url) else { return nil }
        var named = configuration
        named.connectionName = "test-inspector"
        let client = AMQPClient(configuration: named, publishes: false)
        var look: AMQPClient.QueueLook?
        if (try? await client.start(timeout: .seconds(5))) != nil { look = try? await client.inspectQueue(queue) }
        await client.close()
        guard case .present(let messages, _) = look else { return nil }
        return messages
    }

    package static func queueDepth(_ queue: String) -> (ready: Int, unacked: Int)? {
        let f = listing(of: queue, "messages_ready messages_unacknowledged")
        guard f.count == 3, let r = Int(f[1]), let u = Int(f[2]) else { return nil }
        return (r, u)
    }

    /// The queue's line of `rabbitmqctl list_queues name <columns>`, split at tabs; empty when not listed. Filtered
    /// on the broker's side of the pipe: a test broker accumulates thousands of queues, more than a helper's
    /// 64 KiB of collected output.
    static func listing(of queue: String, _ columns: String) -> [Substring] {
        let out = ctl("list_queues -q --no-table-headers name \(columns) | awk -F'\\t' '$1 == \"\(queue)\"'").output
        return out.split(separator: "\n").first.map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
            ?? []
    }
}

/// The private node whose delivery acknowledgement timeout is 5 s (`scripts/broker.sh start-ack-timeout`), checked
/// every second: standing in for production's 30 minutes.
package enum AckTimeoutBroker {
    package static let port = 5686
    package static var url: String { "amqp://guest:guest@127.0.0.1:\(port)/" }
    package static let timeoutSeconds = 5.0

    @discardableResult
    package static func ctl(_ args: String) -> (status: Int32, output: String) {
        Proc.shell("\(TestEnv.repoRoot)/scripts/broker.sh ctl-ack-timeout \(args)")
    }

    /// Channels open on each connection whose connection_name starts with `prefix`, by connection_name.
    package static func channels(ofConnectionsNamed prefix: String) -> [String: Int] {
        let list = ctl("list_connections -q --no-table-headers channels client_properties").output
        var found: [String: Int] = [:]
        for line in list.split(separator: "\n") {
            // `{"connection_name","dms-agent@n"}` (or with `longstr,` before the value, as older brokers print it).
            guard let channels = Int(line.split(separator: "\t").first ?? ""),
                let key = line.range(of: #""connection_name",(longstr,)?""#, options: .regularExpression),
                let end = line[key.upperBound...].firstIndex(of: "\"")
            else { continue }
            let name = line[key.upperBound..<end]
            if name.hasPrefix(prefix) { found[String(name)] = channels }
        }
        return found
    }

    package static func queueDepth(_ queue: String) -> (ready: Int, unacked: Int)? {
        let out = ctl(
            "list_queues -q --no-table-headers name messages_ready messages_unacknowledged | awk -F'\\t' '$1 == \"\(queue)\"'"
        ).output
        let f = out.split(separator: "\n").first.map { $0.split(separator: "\t") } ?? []
        guard f.count == 3, let r = Int(f[1]), let u = Int(f[2]) else { return nil }
        return (r, u)
    }
}

package func residentSetKB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
}

extension Proc {
    /// Live (non-zombie) processes started for targets below `mountBase`, by target id.
    package static func fuseProcesses(under mountBase: String) -> [String: [Int32]] {
        var result: [String: [Int32]] = [:]
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return result }
        for name in entries {
            guard let pid = Int32(name), isLive(pid),
                let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ")
            else { continue }
            let env = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let target = env.first(where: { $0.hasPrefix("DMS_TARGET_ID=") })?.dropFirst(14),
                env.contains(where: { $0.hasPrefix("vault_data_directory=\(mountBase)/") })
            else { continue }
            result[String(target), default: []].append(pid)
        }
        return result
    }
}

/// `scripts/dms_client.py`: a pika peer that behaves on the wire like the original Python `DMSClient`
/// (`style: "original"`) or the shipped kombu publisher (`style: "shipped"`).
package enum PythonClient {
    package struct Outcome {
        /// One per request: the reply object, or nil with `errors` naming why.
        package var replies: [[String: Any]?]
        package var errors: [String]
        package var status: Int32
    }

    static func command(
        node: String, bodies: [[UInt8]], style: String, quorum: Bool, timeout: Int, publishOnly: Bool,
        file: String
    ) throws -> String {
        try bodies.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\n").write(
            toFile: file, atomically: true, encoding: .utf8)
        return
            "python3 \(TestEnv.repoRoot)/scripts/dms_client.py --url '\(TestEnv.amqpURL)' --host \(node) --style \(style)"
            + "\(quorum ? " --quorum" : "") --timeout \(timeout)\(publishOnly ? " --publish-only" : "") \(file)"
    }

    /// Sends every body in order on one channel and waits for each reply (`timeout` one-second iterations).
    package static func run(
        node: String, bodies: [[UInt8]], style: String = "original", quorum: Bool = false, timeout: Int = 30,
        publishOnly: Bool = false
    ) throws -> Outcome {
        let file = "/tmp/dms-client-\(UUID().uuidString.prefix(8)).jsonl"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = Proc.shell(
            try command(
                node: node, bodies: bodies, style: style, quorum: quorum, timeout: timeout,
                publishOnly: publishOnly, file: file) + " 2>/dev/null")
        return parse(result.output, status: result.status)
    }

    /// Starts the client in the background; `outcome(of:)` reads what it printed once it exited.
    package static func start(node: String, bodies: [[UInt8]], style: String = "original", timeout: Int = 60) throws
        -> String
    {
        let file = "/tmp/dms-client-\(UUID().uuidString.prefix(8))"
        Proc.shell(
            "(\(try command(node: node, bodies: bodies, style: style, quorum: false, timeout: timeout, publishOnly: false, file: file + ".jsonl"))"
                + " > \(file).out 2>/dev/null; echo $? > \(file).rc) < /dev/null > /dev/null 2>&1 &")
        return file
    }

    package static func outcome(of handle: String) -> Outcome? {
        guard let rc = try? String(contentsOfFile: handle + ".rc", encoding: .utf8),
            let status = Int32(rc.trimmingCharacters(in: .whitespacesAndNewlines)),
            let out = try? String(contentsOfFile: handle + ".out", encoding: .utf8)
        else { return nil }
        return parse(out, status: status)
    }

    static func parse(_ output: String, status: Int32) -> Outcome {
        var outcome = Outcome(replies: [], errors: [], status: status)
        for line in output.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                continue
            }
            if let reply = object["reply"] as? [String: Any] {
                outcome.replies.append(reply)
            } else if let error = object["error"] as? String {
                outcome.replies.append(nil)
                outcome.errors.append(error)
            }
        }
        return outcome
    }
}

extension Broker {
    /// `name type arguments` of a queue as rabbitmqctl prints them, or nil when it does not exist.
    /// The queue's type and arguments as rabbitmqctl lists them; nil when it is not listed. A busy broker's
    /// listing can fail or leave a queue out: asked up to three times before saying it does not exist.
    package static func queueInfo(_ queue: String) -> (type: String, arguments: String)? {
        for attempt in 0..<3 {
            if attempt > 0 { usleep(300_000) }
            let f = listing(of: queue, "type arguments")
            if f.count >= 2 { return (String(f[1]), f.count > 2 ? String(f[2...].joined(separator: "\t")) : "") }
        }
        return nil
    }
}

/// The spawned child keeps only stdio: a descriptor another test has open for writing (a script it is writing) would
/// otherwise live as long as the child, and exec of that script fails with ETXTBSY.
/// A raw pointer, so that no caller's build depends on which C module declares the type.
package func keepOnlyStdio(_ actions: UnsafeMutableRawPointer) {
    _ = dms_spawn_actions_close_from(actions.assumingMemoryBound(to: posix_spawn_file_actions_t.self), 3)
}
