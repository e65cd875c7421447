import AMQP
import ArgumentParser
import DMS
import FoundationEssentials
import Glibc
import Logging
import VaultFuse

/// Value resolution for every setting: command-line option > environment variable > config file > default.
struct Resolver {
    var file = INIFile()
    let env = ProcessInfo.processInfo.environment

    func string(_ option: String?, env key: String?, file fileKey: String?, default value: String) -> String {
        option ?? key.flatMap { env[$0] } ?? fileKey.flatMap { file[$0] } ?? value
    }

    func optional(_ option: String?, env key: String?, file fileKey: String?) -> String? {
        option ?? key.flatMap { env[$0] } ?? fileKey.flatMap { file[$0] }
    }

    func double(_ option: Double?, env key: String?, file fileKey: String?, default value: Double) -> Double {
        option ?? key.flatMap { env[$0] }.flatMap(Double.init) ?? fileKey.flatMap { file[$0] }.flatMap(Double.init) ?? value
    }

    /// true/false, yes/no, 1/0, on/off (any case); anything else is an error naming where it came from.
    static func parseBool(_ value: String, source: String) throws -> Bool {
        switch value.lowercased() {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default: throw ValidationError("\(source): expected true or false, got \(value.debugDescription)")
        }
    }

    /// Option > environment > the first config key present; nil when none is set.
    func strictBool(_ option: String?, env key: String, file keys: [String]) throws -> Bool? {
        if let option { return try Self.parseBool(option, source: "option") }
        if let v = env[key] { return try Self.parseBool(v, source: key) }
        for k in keys { if let v = file[k] { return try Self.parseBool(v, source: "config key \(k)") } }
        return nil
    }

    /// `--rabbitmq-queue-type` > `--quorum-queue` > DMS_RABBITMQ_QUEUE_TYPE > DMS_QUORUM_QUEUE >
    /// `rabbitmq_queue_type` > `rabbit_quorum_queue` (oslo.messaging's name) > classic.
    func queueType(_ option: String?, quorumFlag: Bool) throws -> QueueType {
        func parse(_ value: String, _ source: String) throws -> QueueType {
            guard let type = QueueType(rawValue: value.lowercased()) else {
                throw ValidationError("\(source): expected classic or quorum, got \(value.debugDescription)")
            }
            return type
        }
        if let option { return try parse(option, "--rabbitmq-queue-type") }
        if quorumFlag { return .quorum }
        if let v = env["DMS_RABBITMQ_QUEUE_TYPE"] { return try parse(v, "DMS_RABBITMQ_QUEUE_TYPE") }
        if let v = env["DMS_QUORUM_QUEUE"] { return try Self.parseBool(v, source: "DMS_QUORUM_QUEUE") ? .quorum : .classic }
        if let v = file["rabbitmq_queue_type"] { return try parse(v, "config key rabbitmq_queue_type") }
        if let v = file["rabbit_quorum_queue"] { return try Self.parseBool(v, source: "config key rabbit_quorum_queue") ? .quorum : .classic }
        return .classic
    }

    /// `[oslo_messaging_rabbit]` of the config file, as every other per-host OpenStack service reads it; the
    /// URL's own query (`?ssl=1`) wins. `rabbit_retry_backoff` (oslo's linear step) is accepted: the agent
    /// grows its delay exponentially with jitter from `rabbit_retry_interval` up to `rabbit_interval_max`.
    func applyOsloRabbit(to amqp: inout AMQPConfiguration, url: String) throws {
        let oslo = file.sections["oslo_messaging_rabbit"] ?? [:]
        if let v = oslo["ssl"], try Self.parseBool(v, source: "[oslo_messaging_rabbit] ssl"), amqp.tls == nil {
            try amqp.applyQuery("ssl=1")
        }
        for (key, query) in [("ssl_ca_file", "ssl_ca_file"), ("ssl_cert_file", "ssl_cert_file"), ("ssl_key_file", "ssl_key_file")] {
            if let v = oslo[key], amqp.tls != nil { try amqp.applyQuery("\(query)=\(v)") }
        }
        if let v = oslo["heartbeat_timeout_threshold"] {
            guard let seconds = Int(v), seconds >= 0 else { throw ValidationError("[oslo_messaging_rabbit] heartbeat_timeout_threshold: expected seconds, got \(v)") }
            amqp.heartbeat = seconds
        }
        if let v = oslo["rabbit_login_method"] { try amqp.applyQuery("login_method=\(v)") }
        if let v = oslo["rabbit_retry_interval"], let seconds = Double(v), seconds > 0 { amqp.reconnectInitialDelay = seconds }
        if let v = oslo["rabbit_interval_max"], let seconds = Double(v), seconds > 0 { amqp.reconnectMaxDelay = seconds }
        // The URL's query wins over the file.
        if let q = url.firstIndex(of: "?") { try amqp.applyQuery(String(url[url.index(after: q)...])) }
    }

    /// Config keys the agent reads. Others (the Python server's `auth_url`, `rootwrap_bin`, … or a shared
    /// oslo file's) are accepted and named once at debug level.
    static let knownKeys: Set<String> = [
        "pid_dir", "mount_base_path", "s3vaultfuse_bin", "log_dir", "kill_timeout", "mount_timeout", "log_format", "log_level",
        "rabbitmq_url", "rabbitmq_password_file", "node_id", "worker_threads", "max_request_age", "rabbitmq_queue_type",
        "rabbit_quorum_queue", "rabbitmq_queue_durable", "amqp_durable_queues", "heartbeat_interval", "s3vaultfuse_env_file",
        "nfs_command_prefix", "log_file", "metrics_listen", "barbican_ca_bundle", "barbican_ssl_verify", "transport_url",
        "allowed_publishers", "nfs_timeout",
    ]

    func logUnusedKeys(_ logger: Logger) {
        let unused = file.values.keys.filter { !Self.knownKeys.contains($0) }.sorted()
        if !unused.isEmpty { logger.debug("config keys not used by dms-agent", metadata: ["keys": "\(unused.joined(separator: ","))"]) }
    }

}

struct ManagerOptions: ParsableArguments {
    @Option(name: .customLong("config-file"), help: ArgumentHelp("INI file with [server]/[DEFAULT] keys, e.g. /etc/triliovault-dms/server.conf.", valueName: "path"))
    var configFile: String?

    @Option(help: ArgumentHelp("PID files and the agent lock. Env DMS_PID_DIR. Default /run/dms/s3.", valueName: "dir"))
    var pidDir: String?

    @Option(help: ArgumentHelp("Every mount path must lie below it; several roots comma-separated. Env DMS_MOUNT_BASE_PATH, key mount_base_path. Default /var/lib/trilio/triliovault-mounts.", valueName: "dir"))
    var mountBase: String?

    @Option(name: .customLong("s3vaultfuse-bin"), help: ArgumentHelp("The FUSE program. Env DMS_S3VAULTFUSE_BIN, key s3vaultfuse_bin. Default /usr/bin/s3vaultfuse.py.", valueName: "path"))
    var s3vaultfuseBin: String?

    @Option(help: ArgumentHelp("Per-target fuse logs <target_id>.log. Env DMS_LOG_DIR. Default /var/log/dms.", valueName: "dir"))
    var logDir: String?

    @Option(help: ArgumentHelp("Grace after unmount and after SIGTERM, seconds. Env DMS_KILL_TIMEOUT. Default 10.", valueName: "s"))
    var killTimeout: Double?

    @Option(help: ArgumentHelp("Readiness deadline for a mount, seconds. Env DMS_MOUNT_TIMEOUT. Default 30.", valueName: "s"))
    var mountTimeout: Double?

    @Option(help: ArgumentHelp("text or json (one JSON object per line). Env DMS_LOG_FORMAT. Default text.", valueName: "format"))
    var logFormat: String?

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error. Env DMS_LOG_LEVEL. Default info.", valueName: "level"))
    var logLevel: String?

    func resolver() throws -> Resolver {
        var r = Resolver()
        if let path = configFile ?? r.env["DMS_CONFIG_FILE"] {
            do { r.file = try INIFile(path: path) } catch { throw ValidationError("Cannot read config file \(path): \(error)") }
        }
        return r
    }

    func vaultFuse(_ r: Resolver) throws -> VaultFuseConfiguration {
        var c = VaultFuseConfiguration()
        c.pidDirectory = r.string(pidDir, env: "DMS_PID_DIR", file: "pid_dir", default: c.pidDirectory)
        c.mountBases = r.string(mountBase, env: "DMS_MOUNT_BASE_PATH", file: "mount_base_path", default: c.mountBase)
            .split(separator: ",").map { "/" + $0.split(separator: "/").joined(separator: "/") }.filter { $0 != "/" }
        if c.mountBases.isEmpty { throw ValidationError("mount base: expected one or more absolute directories other than /") }
        c.binary = r.string(s3vaultfuseBin, env: "DMS_S3VAULTFUSE_BIN", file: "s3vaultfuse_bin", default: c.binary)
        c.logDirectory = r.string(logDir, env: "DMS_LOG_DIR", file: "log_dir", default: c.logDirectory)
        c.killTimeout = r.double(killTimeout, env: "DMS_KILL_TIMEOUT", file: "kill_timeout", default: c.killTimeout)
        c.mountTimeout = r.double(mountTimeout, env: "DMS_MOUNT_TIMEOUT", file: "mount_timeout", default: c.mountTimeout)
        return c
    }

    func makeLogger(_ r: Resolver, label: String = "dms-agent", logFile: String? = nil) -> Logger {
        let format = r.string(logFormat, env: "DMS_LOG_FORMAT", file: "log_format", default: "text")
        let level = Logger.Level(rawValue: r.string(logLevel, env: "DMS_LOG_LEVEL", file: "log_level", default: "info").lowercased()) ?? .info
        let sink = LogSink.open(path: logFile)
        LoggingSystem.bootstrap { label in
            var handler = AgentLogHandler(label: label, json: format == "json", sink: sink)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}
