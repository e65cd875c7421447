import ArgumentParser
import CoreMetrics
import DMSAgentCore
import DMSNodeTools
import DMSSettings
import FoundationEssentials
import Glibc
import LinuxSupport
import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals
import VaultFuse

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
        subcommands: [
            Run.self, Doctor.self, Status.self, Cleanup.self, Mount.self, Unmount.self, Submit.self, ListSettings.self,
        ],
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
            let r = try agent.resolver()
            let (logger, logSink) = agent.manager.makeLogging(r, toLogFile: true)
            let config = try agent.configuration(r)
            let amqp = config.amqp
            let node = config.nodeID
            if !r.unusedKeys.isEmpty {
                logger.debug(
                    "config keys not used by dms-agent",
                    metadata: [LogKey.keys: "\(r.unusedKeys.joined(separator: ","))"])
            }
            for (key, origin) in r.unknownKeys {
                logger.warning(
                    "unknown config key: no setting reads it (a typo, or a key of another service's file?)",
                    metadata: [LogKey.key: "\(key)", LogKey.at: "\(origin)"])
            }
            logger.info(
                "starting",
                metadata: [
                    LogKey.nodeID: "\(node)", LogKey.broker: "\(amqp)",
                    LogKey.pidDirectory: "\(config.vaultFuse.pidDirectory)",
                    LogKey.mountBase: "\(config.vaultFuse.mountBase)", LogKey.workers: "\(config.workers)",
                ])
            let service: DMSAgent
            do {
                service = try DMSAgent(configuration: config, logger: logger) { Glibc.exit(ExitStatus.ioStalled) }
            } catch {
                logger.critical("cannot start", metadata: [LogKey.error: "\(error.message)"])
                throw ExitCode(ExitStatus.of(error))
            }
            // Shut down in reverse order: the heartbeat stops first, the agent drains, the connections close, the
            // manager lets go of the lock, and the health endpoint answers (readyz 503) until all that is done.
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            let listen = agent.metricsListen(r)
            if listen != "none" {
                let registry = PrometheusCollectorRegistry()
                var factory = PrometheusMetricsFactory(registry: registry)
                // A job's stages run from microseconds (parse, hand-offs) to the mount timeout.
                factory.durationHistogramBuckets["dms_job_stage_seconds"] = [
                    .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
                    .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                    .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
                    .seconds(5), .seconds(30),
                ]
                MetricsSystem.bootstrap(factory)
                do {
                    let server = try HealthEndpoint(
                        address: listen, source: AgentHealth(agent: service, registry: registry))
                    services.append(.init(service: server))
                    logger.info("metrics and health endpoints", metadata: [LogKey.listen: "\(server.boundAddress)"])
                    server.publishAddress(inDirectory: config.vaultFuse.pidDirectory, logger: logger)
                } catch {
                    logger.critical("cannot serve metrics", metadata: [LogKey.error: "\(error)"])
                    throw ExitCode(ExitStatus.cannotListen)
                }
            }
            services += service.services.map { .init(service: $0) }
            if logSink.path != nil { services.append(.init(service: LogReopener(sink: logSink, logger: logger))) }
            let group = ServiceGroup(
                configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            do {
                try await group.run()
            } catch let error as AgentError {
                logger.critical("cannot run", metadata: [LogKey.error: "\(error.message)"])
                throw ExitCode(ExitStatus.of(error))
            }
        }
    }

    struct ListSettings: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "settings",
            abstract:
                "Print every setting: its option, environment variables, config keys, default and meaning (README's table).",
            discussion: """
                With --resolved, and the same options, environment and config files as run: every effective value and \
                where it came from (option, environment variable, file and line with the lines it overrides, or the \
                default), secrets masked. Keys no setting reads are marked UNKNOWN.
                """)

        @Option(help: "markdown (README's table) or conf (a commented server.conf with every key at its default).")
        var format = "markdown"
        @Flag(help: "Print the effective value of every setting and its source instead.") var resolved = false
        @OptionGroup var agent: AgentOptions

        func run() throws {
            if resolved {
                print(try agent.resolver().resolvedReport())
                return
            }
            switch format {
            case "markdown": print(Settings.markdownTable())
            case "conf": print(Settings.commentedConfigFile(), terminator: "")
            default: throw ValidationError("--format: markdown or conf, got \(format)")
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Show tracked targets from the PID directory and /proc, without a broker and without changing anything.",
            discussion:
                "Each PID file is checked the way the agent checks it (owner, start time, target marker). 'stale' means the agent would delete the file and never signal that PID."
        )

        @OptionGroup var manager: ManagerOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            print(try LocalCommands.status(try manager.resolver(), json: json))
        }
    }

    struct Cleanup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove stale PID files and FUSE mounts nobody serves. Never kills a process.",
            discussion:
                "Takes the PID-directory lock, so it refuses to run beside a running agent (which cleans up by itself)."
        )

        @OptionGroup var manager: ManagerOptions

        func run() async throws {
            let r = try manager.resolver()
            let targets = try await exitOnError { try LocalCommands(r, logger: manager.makeLogger(r)) }
            print(await targets.cleanup())
        }
    }

    struct Mount: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Mount one S3 target locally through the manager (no broker): start s3vaultfuse and wait until mounted.",
            discussion: "For operators and the quick start. Refuses to run beside a running agent (PID-directory lock)."
        )

        @OptionGroup var manager: ManagerOptions
        @Option(help: ArgumentHelp("Target id, [A-Za-z0-9][A-Za-z0-9._-]{0,127}.", valueName: "id")) var target: String
        @Option(help: ArgumentHelp("Mount path below the mount base.", valueName: "path")) var path: String
        @Option(
            name: .customLong("env"), help: ArgumentHelp("KEY=VALUE for s3vaultfuse (repeatable).", valueName: "K=V"))
        var env: [String] = []
        @Option(help: ArgumentHelp("File of KEY=VALUE lines for s3vaultfuse.", valueName: "path")) var envFile: String?

        func run() async throws {
            let r = try manager.resolver()
            var environment: [String: String] = [:]
            if let envFile { environment = try EnvFile.read(envFile) }
            for pair in env {
                guard let eq = pair.firstIndex(of: "=") else {
                    throw ValidationError("--env expects KEY=VALUE, got \(pair)")
                }
                environment[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
            }
            let targets = try await exitOnError { try LocalCommands(r, logger: manager.makeLogger(r)) }
            let environmentToPass = environment
            print(
                try await exitOnError {
                    try await targets.mount(target: target, path: path, environment: environmentToPass)
                })
        }
    }

    struct Unmount: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Unmount one S3 target locally: unmount, wait for s3vaultfuse to exit, then SIGTERM/SIGKILL if it must."
        )

        @OptionGroup var manager: ManagerOptions
        @Option(help: ArgumentHelp("Target id.", valueName: "id")) var target: String
        @Flag(help: "Detach a busy mount lazily instead of failing.") var lazy = false

        func run() async throws {
            let r = try manager.resolver()
            let targets = try await exitOnError { try LocalCommands(r, logger: manager.makeLogger(r)) }
            print(try await exitOnError { try await targets.unmount(target: target, lazy: lazy) })
        }
    }
}

/// Writes a line to stderr.
func printError(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// Prints a command's error (and a fuse log tail) and exits with its status.
func exitOnError<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let error as LocalCommandError {
        printError(error.message + "\n")
        if let tail = error.logTail, !tail.isEmpty { printError("--- fuse log tail ---\n\(tail)\n") }
        throw ExitCode(ExitStatus.of(error))
    }
}
