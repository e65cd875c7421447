import AMQP
import ArgumentParser
import CLinuxProcess
import DMS
import FoundationEssentials
import Glibc
import Logging
import CoreMetrics
import Prometheus
import ServiceLifecycle
import VaultFuse

@main
struct DMSAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dms-agent",
        abstract: "Mounts S3 and NFS backup targets on a compute node, on demand, from RabbitMQ jobs.",
        discussion: """
        The agent consumes the durable queue dms.<node-id>, mounts an S3 target by running one s3vaultfuse \
        FUSE process per target (tracked in memory and in <pid-dir>/<target_id>.pid) or an NFS export with \
        mount(8), and replies to each request's reply_to. FUSE processes outlive the agent: a restart adopts \
        them. Every option can also come from an environment variable or the config file; options win over \
        the environment, which wins over the file.
        """,
        version: "dms-agent 0.1.0",
        subcommands: [Run.self, Doctor.self, Status.self, Cleanup.self, Mount.self, Unmount.self, Submit.self],
        defaultSubcommand: nil)
}

extension DMSAgentCommand {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the agent: recover the PID directory, then consume and execute jobs until SIGTERM.",
            discussion: """
            Start-up takes the PID-directory lock (a second agent on the same directory refuses to start), adopts \
            live s3vaultfuse processes proven to be ours, removes stale PID files and mounts, publishes node.started, \
            and only then consumes. SIGTERM or SIGINT stops consuming, lets in-flight jobs finish, publishes \
            node.stopping and exits 0, leaving every s3vaultfuse running.
            """)

        @OptionGroup var agent: AgentOptions

        func run() async throws {
            // Every blocking wait runs on a short-lived thread; without a cap glibc gives each its own
            // malloc arena and the resident size of a long-running agent creeps up.
            dms_limit_malloc_arenas(2)
            let r = try agent.manager.resolver()
            let logger = agent.manager.makeLogger(r, logFile: r.optional(agent.logFile, env: "DMS_LOG_FILE", file: "log_file"))
            let config = try agent.configuration(r)
            let amqp = config.amqp, node = config.nodeID
            r.logUnusedKeys(logger)
            logger.info("starting", metadata: ["node_id": "\(node)", "broker": "\(amqp)", "pid_dir": "\(config.vaultFuse.pidDirectory)",
                                               "mount_base": "\(config.vaultFuse.mountBase)", "workers": "\(config.workers)"])
            let service: DMSAgent
            do {
                service = try DMSAgent(configuration: config, logger: logger)
            } catch let error as VaultFuseError {
                logger.critical("cannot start", metadata: ["error": "\(error.message)"])
                throw ExitCode(3)
            }
            // Shut down in reverse order: the heartbeat stops first, then the agent drains, and the health endpoint
            // answers (readyz 503) until the agent is done.
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            let listen = agent.metricsListen(r)
            if listen != "none" {
                let registry = PrometheusCollectorRegistry()
                MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
                do {
                    let server = try HealthServer(address: listen, registry: registry, agent: service)
                    services.append(.init(service: server))
                    logger.info("metrics and health endpoints", metadata: ["listen": "\(server.boundAddress)"])
                } catch {
                    logger.critical("cannot serve metrics", metadata: ["error": "\(error)"])
                    throw ExitCode(5)
                }
            }
            services += [.init(service: service), .init(service: Heartbeat(agent: service))]
            let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            do {
                try await group.run()
            } catch let error as AMQPError {
                logger.critical("cannot run", metadata: ["error": "\(error)"])
                throw ExitCode(4)
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show tracked targets from the PID directory and /proc, without a broker and without changing anything.",
            discussion: "Each PID file is checked the way the agent checks it (owner, start time, target marker). 'stale' means the agent would delete the file and never signal that PID.")

        @OptionGroup var manager: ManagerOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let r = try manager.resolver()
            let report = PIDDirectoryReport.read(try manager.vaultFuse(r))
            if json {
                let data = try JSONEncoder.pretty.encode(report)
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(report.text)
            }
        }
    }

    struct Cleanup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove stale PID files and FUSE mounts nobody serves. Never kills a process.",
            discussion: "Takes the PID-directory lock, so it refuses to run beside a running agent (which cleans up by itself).")

        @OptionGroup var manager: ManagerOptions

        func run() async throws {
            let r = try manager.resolver()
            let logger = manager.makeLogger(r)
            let m = try withLockError { try S3VaultFuseManager(configuration: try manager.vaultFuse(r), logger: logger) }
            let report = await m.recover()
            print("adopted=\(report.loaded) cleaned=\(report.cleaned)")
            m.shutdown()
        }
    }

    struct Mount: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mount one S3 target locally through the manager (no broker): start s3vaultfuse and wait until mounted.",
            discussion: "For operators and the quick start. Refuses to run beside a running agent (PID-directory lock).")

        @OptionGroup var manager: ManagerOptions
        @Option(help: ArgumentHelp("Target id, [A-Za-z0-9][A-Za-z0-9._-]{0,127}.", valueName: "id")) var target: String
        @Option(help: ArgumentHelp("Mount path below the mount base.", valueName: "path")) var path: String
        @Option(name: .customLong("env"), help: ArgumentHelp("KEY=VALUE for s3vaultfuse (repeatable).", valueName: "K=V")) var env: [String] = []
        @Option(help: ArgumentHelp("File of KEY=VALUE lines for s3vaultfuse.", valueName: "path")) var envFile: String?

        func run() async throws {
            let r = try manager.resolver()
            let logger = manager.makeLogger(r)
            var environment: [String: String] = [:]
            if let envFile { environment = try EnvFile.read(envFile) }
            for pair in env {
                guard let eq = pair.firstIndex(of: "=") else { throw ValidationError("--env expects KEY=VALUE, got \(pair)") }
                environment[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
            }
            let m = try withLockError { try S3VaultFuseManager(configuration: try manager.vaultFuse(r), logger: logger) }
            defer { m.shutdown() }
            do {
                let outcome = try await m.spawn(targetID: target, mountPath: path, environment: environment)
                switch outcome {
                case .started(let pid): print("S3 target mounted successfully at \(path) (pid \(pid))")
                case .alreadyRunning(let pid): print("Already mounted at \(path) (pid \(pid))")
                }
            } catch {
                printError("error [\(error.code.rawValue)]: \(error.message)\n")
                if let tail = error.logTail, !tail.isEmpty { printError("--- fuse log tail ---\n\(tail)\n") }
                throw ExitCode.failure
            }
        }
    }

    struct Unmount: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unmount one S3 target locally: unmount, wait for s3vaultfuse to exit, then SIGTERM/SIGKILL if it must.")

        @OptionGroup var manager: ManagerOptions
        @Option(help: ArgumentHelp("Target id.", valueName: "id")) var target: String
        @Flag(help: "Detach a busy mount lazily instead of failing.") var lazy = false

        func run() async throws {
            let r = try manager.resolver()
            let logger = manager.makeLogger(r)
            let m = try withLockError { try S3VaultFuseManager(configuration: try manager.vaultFuse(r), logger: logger) }
            defer { m.shutdown() }
            do {
                switch try await m.kill(targetID: target, lazyIfBusy: lazy) {
                case .stopped(let pid, let path): print("Target unmounted successfully from \(path) (pid \(pid))")
                case .notRunning: print("Target not mounted")
                }
            } catch {
                printError("error [\(error.code.rawValue)]: \(error.message)\n")
                throw ExitCode.failure
            }
        }
    }
}

/// Writes a line to stderr.
func printError(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// gethostname(2), as the Python server's socket.gethostname().
func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func withLockError<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as VaultFuseError {
        printError("error: \(error.message)\n")
        throw ExitCode(3)
    }
}

extension JSONEncoder {
    static var pretty: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return e
    }
}

/// Every setting of `run`, shared with `doctor` (the same resolution: option > environment > file > default).
struct AgentOptions: ParsableArguments {
    @OptionGroup var manager: ManagerOptions

    @Option(help: ArgumentHelp("amqp://user:pass@host:port/vhost or oslo's transport_url (rabbit://u:p@h1:5672,u2:p2@h2:5672/vhost?ssl=1; also amqps, rabbitmq, rabbit+ssl). Env DMS_RABBITMQ_URL or DMS_TRANSPORT_URL, key rabbitmq_url or transport_url; [oslo_messaging_rabbit] ssl*, heartbeat_timeout_threshold, rabbit_retry_interval, rabbit_interval_max apply.", valueName: "url"))
    var rabbitmqURL: String?

    @Option(help: ArgumentHelp("Broker users allowed to publish requests, comma-separated: a request whose AMQP user_id (validated by the broker) is missing or another is refused. Env DMS_ALLOWED_PUBLISHERS, key allowed_publishers. Default: anyone.", valueName: "users"))
    var allowedPublishers: String?

    @Option(help: ArgumentHelp("Read the broker password from this file. Env DMS_RABBITMQ_PASSWORD_FILE.", valueName: "path"))
    var rabbitmqPasswordFile: String?

    @Option(help: ArgumentHelp("This node's id: the queue is dms.<node-id>. Env DMS_NODE_ID, key node_id. Default: the host name.", valueName: "id"))
    var nodeID: String?

    @Option(help: ArgumentHelp("Jobs run in parallel (different targets) and consumer prefetch. Env DMS_WORKERS, key worker_threads. Default 10.", valueName: "n"))
    var workers: Int?

    @Option(help: ArgumentHelp("Requests older than this (AMQP timestamp) are answered 'expired', seconds. Env DMS_MAX_REQUEST_AGE. Default 300.", valueName: "s"))
    var maxRequestAge: Double?

    @Option(help: ArgumentHelp("classic or quorum: the type dms.<node-id> is declared with when it does not exist yet (an existing queue is consumed as it is). Env DMS_RABBITMQ_QUEUE_TYPE, key rabbitmq_queue_type. Default classic.", valueName: "type"))
    var rabbitmqQueueType: String?

    @Flag(help: "Same as --rabbitmq-queue-type quorum (env DMS_QUORUM_QUEUE, key rabbit_quorum_queue, as oslo.messaging names it).")
    var quorumQueue = false

    @Option(help: ArgumentHelp("true or false: declare the queues durable (quorum queues always are). Env DMS_RABBITMQ_QUEUE_DURABLE, key rabbitmq_queue_durable or amqp_durable_queues. Default true.", valueName: "bool"))
    var rabbitmqQueueDurable: String?

    @Option(help: ArgumentHelp("node.heartbeat event period, seconds; 0 disables. Env DMS_HEARTBEAT_INTERVAL. Default 30.", valueName: "s"))
    var heartbeatInterval: Double?

    @Option(help: ArgumentHelp("Global s3vaultfuse settings (KEY=VALUE), under each secret's. Env DMS_S3_ENV_FILE, key s3vaultfuse_env_file.", valueName: "path"))
    var s3EnvFile: String?

    @Option(help: ArgumentHelp("Prefix for NFS mount/umount, e.g. 'sudo'. Env DMS_NFS_COMMAND_PREFIX.", valueName: "cmd"))
    var nfsCommandPrefix: String?

    @Option(help: ArgumentHelp("Deadline of each NFS mount/umount, seconds; past it the command is stopped and the job fails. Env DMS_NFS_TIMEOUT, key nfs_timeout. Default 60.", valueName: "s"))
    var nfsTimeout: Double?

    @Option(help: ArgumentHelp("Append logs to this file instead of stderr. Env DMS_LOG_FILE, key log_file.", valueName: "path"))
    var logFile: String?

    @Option(help: ArgumentHelp("host:port for /metrics, /healthz and /readyz; 'none' turns it off. Env DMS_METRICS_LISTEN, key metrics_listen. Default 127.0.0.1:9464.", valueName: "addr"))
    var metricsListen: String?

    @Option(help: ArgumentHelp("CA bundle for Barbican's TLS certificate. Env DMS_BARBICAN_CA_BUNDLE, key barbican_ca_bundle.", valueName: "path"))
    var barbicanCABundle: String?

    @Option(help: ArgumentHelp("true or false: verify Barbican's certificate. Env DMS_BARBICAN_SSL_VERIFY, key barbican_ssl_verify. Default true.", valueName: "bool"))
    var barbicanSSLVerify: String?

    func metricsListen(_ r: Resolver) -> String {
        r.string(metricsListen, env: "DMS_METRICS_LISTEN", file: "metrics_listen", default: "127.0.0.1:9464")
    }

    func configuration(_ r: Resolver) throws -> AgentConfiguration {
        let url = r.optional(rabbitmqURL, env: "DMS_RABBITMQ_URL", file: "rabbitmq_url")
            ?? r.optional(nil, env: "DMS_TRANSPORT_URL", file: "transport_url") ?? "amqp://guest:guest@localhost:5672/"
        var amqp = try AMQPConfiguration(url: url)
        try r.applyOsloRabbit(to: &amqp, url: url)
        if let file = r.optional(rabbitmqPasswordFile, env: "DMS_RABBITMQ_PASSWORD_FILE", file: "rabbitmq_password_file") {
            try amqp.readPassword(fromFile: file)
        }
        let node = r.string(nodeID, env: "DMS_NODE_ID", file: "node_id", default: hostName())
        amqp.spread(by: node)
        var config = AgentConfiguration(nodeID: node, amqp: amqp, vaultFuse: try manager.vaultFuse(r))
        config.workers = max(1, Int(r.string(workers.map(String.init), env: "DMS_WORKERS", file: "worker_threads", default: "10")) ?? 10)
        config.maxRequestAge = r.double(maxRequestAge, env: "DMS_MAX_REQUEST_AGE", file: "max_request_age", default: 300)
        config.queueType = try r.queueType(rabbitmqQueueType, quorumFlag: quorumQueue)
        config.queueDurable = try r.strictBool(rabbitmqQueueDurable, env: "DMS_RABBITMQ_QUEUE_DURABLE",
                                               file: ["rabbitmq_queue_durable", "amqp_durable_queues"]) ?? true
        config.heartbeatInterval = r.double(heartbeatInterval, env: "DMS_HEARTBEAT_INTERVAL", file: "heartbeat_interval", default: 30)
        config.allowedPublishers = Set((r.optional(allowedPublishers, env: "DMS_ALLOWED_PUBLISHERS", file: "allowed_publishers") ?? "")
            .split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty })
        config.s3EnvFile = r.optional(s3EnvFile, env: "DMS_S3_ENV_FILE", file: "s3vaultfuse_env_file")
        config.barbicanCABundle = r.optional(barbicanCABundle, env: "DMS_BARBICAN_CA_BUNDLE", file: "barbican_ca_bundle")
        if let verify = r.optional(barbicanSSLVerify, env: "DMS_BARBICAN_SSL_VERIFY", file: "barbican_ssl_verify") {
            config.barbicanVerifyTLS = try Resolver.parseBool(verify, source: "barbican_ssl_verify")
        }
        config.nfsTimeout = r.double(nfsTimeout, env: "DMS_NFS_TIMEOUT", file: "nfs_timeout", default: 60)
        if let prefix = r.optional(nfsCommandPrefix, env: "DMS_NFS_COMMAND_PREFIX", file: "nfs_command_prefix") {
            config.nfsCommandPrefix = prefix.split(separator: " ").map(String.init)
        }
        return config
    }
}
