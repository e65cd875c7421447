package import DMSClient
package import DMSWire
import Foundation
import LinuxSupport
import Synchronization

/// A `dms-agent run` subprocess with its own node id, PID directory and mount base.
package final class AgentProcess: @unchecked Sendable {
    package let nodeID: String
    package let box: Sandbox
    /// The agent's stderr, which is its log unless `log_file` is set.
    package let stderrPath: String
    /// Where the agent's log lines land: its stderr, or the `log_file` a test gives it.
    package var logPath: String
    package private(set) var pid: Int32 = 0
    let arguments: [String]
    var environment: [String]
    /// Runs the agent through this command (e.g. `nsenter --net=… --`), which must exec it in place.
    package var launcher: [String] = []
    /// The whole command line instead of `dms-agent run` and the harness's options (a deploy tool's exact line),
    /// run with nothing but PATH and HOME in its environment.
    package var commandLine: [String]? {
        didSet { if commandLine != nil { environment = Array(environment.prefix(2)) + Self.sanitizerEnvironment } }
    }

    /// A sanitizer's options reach the agents too (`scripts/sanitize.sh`: reports land in its report directory).
    static var sanitizerEnvironment: [String] {
        ["TSAN_OPTIONS", "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS"].compactMap { name in
            ProcessInfo.processInfo.environment[name].map { "\(name)=\($0)" }
        }
    }

    package static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("dms-agent")
            .path
    }

    package init(
        nodeID: String = "node-\(UUID().uuidString.prefix(8).lowercased())", box: Sandbox,
        fuse: String = TestEnv.fakeFuse,
        extraArguments: [String] = [], extraEnvironment: [String] = []
    ) {
        self.nodeID = nodeID
        self.box = box
        self.stderrPath = box.root + "/agent.log"
        self.logPath = stderrPath
        arguments =
            [
                "run", "--rabbitmq-url", TestEnv.amqpURL, "--node-id", nodeID, "--pid-dir", box.pidDir, "--mount-base",
                box.mountBase,
                "--log-dir", box.logDir, "--s3vaultfuse-bin", fuse, "--heartbeat-interval", "0", "--kill-timeout", "3",
                "--mount-timeout", "20", "--metrics-listen", "127.0.0.1:0",
            ] + extraArguments
        environment =
            [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
                "DMS_RABBITMQ_URL=\(TestEnv.amqpURL)",
            ] + Self.sanitizerEnvironment + extraEnvironment
    }

    /// Starts the agent and waits until its log says it consumes.
    @discardableResult
    package func start(waitForConsuming: Bool = true) async throws -> Int32 {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 1, stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
        keepOnlyStdio(&fileActions)
        let command = launcher + (commandLine ?? [Self.binary] + arguments)
        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let rc = posix_spawn(&child, command[0], &fileActions, nil, argv, envp)
        guard rc == 0 else { throw NSError(domain: "spawn", code: Int(rc)) }
        pid = child
        if waitForConsuming {
            // Ready is what /readyz says (consuming, not blocked), at the port the agent published.
            let ok = await eventually(timeout: 30, every: 0.05) {
                self.http("/readyz").0 == 200 || !Proc.exists(child)
            }
            guard ok, Proc.exists(child), !Proc.isZombie(child) else {
                // Never leave it behind: a stray agent holds its PID directory and port for every later test.
                kill(child, SIGKILL)
                wait()
                throw NSError(domain: "agent did not start: \(log())", code: 1)
            }
        }
        return child
    }

    package func signal(_ sig: Int32) { if pid > 0 { kill(pid, sig) } }

    /// Waits for the process to exit and returns its status (exit code, or 128+signal).
    @discardableResult
    package func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        pid = 0
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    package func stop() {
        guard pid > 0 else { return }
        signal(SIGTERM)
        wait()
    }

    /// The port of /metrics, /healthz and /readyz, as the agent published it in its PID directory
    /// (`HealthEndpoint.addressFileName`): `127.0.0.1:41234` or `[::]:41234`.
    package var metricsPort: Int? {
        guard pid > 0, let text = try? String(contentsOfFile: box.pidDir + "/.dms-agent.health", encoding: .utf8)
        else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").last ?? "")
    }

    /// GET on the agent's health server: (status code, body).
    package func http(_ path: String, host: String = "127.0.0.1") -> (Int, String) {
        guard let port = metricsPort else { return (0, "no metrics port") }
        // From where the agent is: inside its network namespace when a launcher put it in one.
        let inside = launcher.map { "'\($0)'" }.joined(separator: " ")
        let out = Proc.shell("\(inside) curl -g -s -m 5 -w '\\n%{http_code}' 'http://\(host):\(port)\(path)'").output
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    package func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    package func logLines() -> [Substring] { log().split(separator: "\n") }
}

/// Sends requests as the orchestrator does and collects replies by correlation id: `DMSClient` with the tests'
/// request shapes (hostile ones included) and a durable reply queue that survives broker restarts.
package final class Requester: Sendable {
    package let client: DMSClient
    package var replyQueue: String { client.replyQueue }
    /// Every reply as it arrived: (correlation id, body).
    private let arrivals: Locked<[(id: String, body: [UInt8])]>

    /// `quorum`: the reply queue survives the loss of one cluster node.
    package init(url: String = TestEnv.amqpURL, quorum: Bool = false) async throws {
        let arrivals = Locked<[(id: String, body: [UInt8])]>([])
        self.arrivals = arrivals
        client = try DMSClient(
            url: url, name: "test-requester", replyQueue: .durable(quorum: quorum), reconnectDelay: .milliseconds(200),
            onReply: { id, body in arrivals.withLock { $0.append((id, body)) } })
        try await client.start()
    }

    /// A request as the orchestrator writes it (`JobRequest.fields`), with `extra` fields added or replaced, any JSON.
    package static func body(
        action: String, node: String, target: String? = nil, path: String? = nil, type: String = "s3",
        secretRef: String? = nil, token: String? = nil, jobid: Int = 1, extra: [String: Any] = [:]
    ) -> [UInt8] {
        var request = JobRequest(
            action: .init(rawValue: action)!, host: node, jobID: Int64(jobid), keystoneToken: token)
        if let target {
            request.target = .init(
                id: target, type: .init(rawValue: type)!, mountPath: path ?? "", secretRef: secretRef)
        }
        var fields = request.fields
        for (key, value) in extra {
            let json = try! JSONSerialization.data(withJSONObject: [key: value])
            fields[key] = try! JSONValue.parse(Array(json)).object![key]
        }
        return JSONValue.object(fields).serialized
    }

    /// Publishes a request to `dms.<node>`; returns its correlation id.
    @discardableResult
    package func send(
        _ body: [UInt8], node: String, timestamp: UInt64? = UInt64(Date().timeIntervalSince1970),
        correlationID: String = UUID().uuidString, viaExchange: Bool = false, userID: String? = nil
    ) async throws -> String {
        try await client.send(
            body, to: node, correlationID: correlationID, timestamp: timestamp, viaExchange: viaExchange, userID: userID
        )
    }

    /// The reply to `correlationID`, decoded, also when it was taken before (the tests look more than once).
    package func reply(_ correlationID: String, timeout: Double = 30) async -> JobReply? {
        if let body = rawReply(correlationID) { return try? JobReply.decode(body) }
        let body = (try? await client.reply(correlationID, timeout: .seconds(timeout))) ?? rawReply(correlationID)
        return body.flatMap { try? JobReply.decode($0) }
    }

    /// The first reply to `correlationID` if it has arrived, without waiting.
    package func rawReply(_ correlationID: String) -> [UInt8]? {
        arrivals.withLock { $0.first { $0.id == correlationID }?.body }
    }

    /// Correlation ids in the order their replies arrived (an id twice if it was answered twice).
    package var arrivalOrder: [String] { arrivals.withLock { $0.map(\.id) } }

    package func call(_ body: [UInt8], node: String, timeout: Double = 30) async throws -> JobReply? {
        let id = try await send(body, node: node)
        return await reply(id, timeout: timeout)
    }

    /// Closes the client, which deletes its durable reply queue itself.
    package func close() async { await client.close() }
}

/// Runs `body` with a requester and closes it (its reply queue deleted) afterwards, awaited, also when `body` throws.
package func withRequester<T>(
    url: String = TestEnv.amqpURL, quorum: Bool = false, _ body: (Requester) async throws -> T
) async throws -> T {
    let requester = try await Requester(url: url, quorum: quorum)
    do {
        let result = try await body(requester)
        await requester.close()
        return result
    } catch {
        await requester.close()
        throw error
    }
}

/// Starts `agent`, runs `body` with it and a requester, then closes the requester and stops the agent, awaited,
/// also when `body` throws: the set-up of the end-to-end and chaos tests in one place.
package func withAgent<T>(_ agent: AgentProcess, _ body: (AgentProcess, Requester) async throws -> T) async throws -> T
{
    try await agent.start()
    defer { agent.stop() }
    return try await withRequester { requester in try await body(agent, requester) }
}
