/// One setting of the agent: its option, environment variables, config keys, default and help — the one place
/// they are named. `--help`, the README's configuration table (checked by a test) and the resolution all read it.
public struct Setting: Sendable, Hashable {
    /// The long option without `--`.
    public let option: String
    /// Environment variables, the first set one wins.
    public let environment: [String]
    /// Config-file keys (`[server]` over `[DEFAULT]`), the first present one wins.
    public let keys: [String]
    /// The default as the README and `--help` show it (with a short note in parentheses where useful).
    public let defaultText: String
    public let summary: String
    public let valueName: String

    init(
        _ option: String, env: [String], keys: [String], default defaultText: String, value valueName: String,
        _ summary: String
    ) {
        self.option = option
        environment = env
        self.keys = keys
        self.defaultText = defaultText
        self.summary = summary
        self.valueName = valueName
    }

    /// The option's help: the summary, then where else it may come from and its default.
    public var help: String {
        var text = summary
        if !environment.isEmpty { text += " Env \(environment.joined(separator: " or "))" }
        if !keys.isEmpty { text += (environment.isEmpty ? " Key " : ", key ") + keys.joined(separator: " or ") }
        if !environment.isEmpty || !keys.isEmpty { text += "." }
        if defaultText != "–" { text += " Default: \(defaultText)." }
        return text
    }
}

public enum Settings {
    public static let configFile = Setting(
        "config-file", env: ["DMS_CONFIG_FILE"], keys: [], default: "–", value: "path",
        "INI file with [server]/[DEFAULT] keys and [oslo_messaging_rabbit], e.g. /etc/triliovault-dms/server.conf.")
    public static let rabbitmqURL = Setting(
        "rabbitmq-url", env: ["DMS_RABBITMQ_URL", "DMS_TRANSPORT_URL"], keys: ["rabbitmq_url", "transport_url"],
        default: "amqp://guest:guest@localhost:5672/", value: "url",
        "amqp://user:pass@host:port/vhost or oslo's transport_url (rabbit://u:p@h1:5672,u2:p2@h2:5672/vhost?ssl=1; also amqps, "
            + "rabbitmq, rabbit+ssl; query ssl, ssl_ca_file, ssl_cert_file, ssl_key_file, heartbeat, verify=verify_none)."
    )
    public static let allowedPublishers = Setting(
        "allowed-publishers", env: ["DMS_ALLOWED_PUBLISHERS"], keys: ["allowed_publishers"], default: "anyone",
        value: "users",
        "Broker users allowed to publish requests, comma-separated: a request whose AMQP user_id (validated by the broker) "
            + "is missing or another is refused.")
    public static let rabbitmqPasswordFile = Setting(
        "rabbitmq-password-file", env: ["DMS_RABBITMQ_PASSWORD_FILE"], keys: ["rabbitmq_password_file"], default: "–",
        value: "path", "Read the broker password from this file.")
    public static let nodeID = Setting(
        "node-id", env: ["DMS_NODE_ID"], keys: ["node_id"], default: "the host name", value: "id",
        "This node's id: the queue is dms.<node-id>; the orchestrator addresses nova's host name.")
    public static let workers = Setting(
        "workers", env: ["DMS_WORKERS"], keys: ["worker_threads"], default: "10", value: "n",
        "Jobs run in parallel (different targets) and the consumer prefetch.")
    public static let maxRequestAge = Setting(
        "max-request-age", env: ["DMS_MAX_REQUEST_AGE"], keys: ["max_request_age"], default: "300 s", value: "duration",
        "Requests older than this (AMQP timestamp) are answered 'expired'.")
    public static let rabbitmqQueueType = Setting(
        "rabbitmq-queue-type", env: ["DMS_RABBITMQ_QUEUE_TYPE"], keys: ["rabbitmq_queue_type"], default: "classic",
        value: "type",
        "classic or quorum: the type dms.<node-id> and dms.<node-id>.dead are declared with when they do not exist yet "
            + "(an existing queue is consumed as it is).")
    public static let quorumQueue = Setting(
        "quorum-queue", env: ["DMS_QUORUM_QUEUE"], keys: ["rabbit_quorum_queue"], default: "false", value: "bool",
        "Same as --rabbitmq-queue-type quorum (rabbit_quorum_queue is oslo.messaging's name).")
    public static let rabbitmqQueueDurable = Setting(
        "rabbitmq-queue-durable", env: ["DMS_RABBITMQ_QUEUE_DURABLE"],
        keys: ["rabbitmq_queue_durable", "amqp_durable_queues"],
        default: "true", value: "bool", "Declare the queues durable (quorum queues always are).")
    public static let heartbeatInterval = Setting(
        "heartbeat-interval", env: ["DMS_HEARTBEAT_INTERVAL"], keys: ["heartbeat_interval"], default: "30 s",
        value: "duration",
        "node.heartbeat event period; 0 turns it off.")
    public static let barbicanCABundle = Setting(
        "barbican-ca-bundle", env: ["DMS_BARBICAN_CA_BUNDLE"], keys: ["barbican_ca_bundle"],
        default: "the system CA store",
        value: "path", "CA bundle for Barbican's TLS certificate.")
    public static let barbicanURL = Setting(
        "barbican-url", env: ["DMS_BARBICAN_URL"], keys: ["barbican_url"], default: "–", value: "url",
        "Barbican's endpoint, e.g. https://barbican:9311, for doctor's check that it is reachable and its certificate "
            + "verifies with barbican_ca_bundle (requests name their own secret_ref).")
    public static let barbicanSSLVerify = Setting(
        "barbican-ssl-verify", env: ["DMS_BARBICAN_SSL_VERIFY"], keys: ["barbican_ssl_verify"], default: "true",
        value: "bool",
        "Verify Barbican's certificate.")
    public static let s3EnvFile = Setting(
        "s3-env-file", env: ["DMS_S3_ENV_FILE"], keys: ["s3vaultfuse_env_file"], default: "–", value: "path",
        "Global s3vaultfuse settings (KEY=VALUE lines), under each secret's.")
    public static let nfsCommandPrefix = Setting(
        "nfs-command-prefix", env: ["DMS_NFS_COMMAND_PREFIX"], keys: ["nfs_command_prefix"], default: "–", value: "cmd",
        "Prefix for NFS mount/umount, e.g. 'sudo'.")
    public static let nfsTimeout = Setting(
        "nfs-timeout", env: ["DMS_NFS_TIMEOUT"], keys: ["nfs_timeout"], default: "60 s", value: "duration",
        "Deadline of each NFS mount/umount; past it the command's whole session is stopped and the job fails.")
    public static let logFile = Setting(
        "log-file", env: ["DMS_LOG_FILE"], keys: ["log_file"], default: "stderr (journald)", value: "path",
        "Append logs to this file.")
    public static let logFormat = Setting(
        "log-format", env: ["DMS_LOG_FORMAT"], keys: ["log_format"], default: "text", value: "format",
        "text or json (one JSON object per line).")
    public static let logLevel = Setting(
        "log-level", env: ["DMS_LOG_LEVEL"], keys: ["log_level"], default: "info", value: "level",
        "trace, debug, info, notice, warning, error or critical.")
    public static let metricsListen = Setting(
        "metrics-listen", env: ["DMS_METRICS_LISTEN"], keys: ["metrics_listen"], default: "127.0.0.1:9464",
        value: "addr",
        "host:port, [ipv6]:port or *:port (every address) for /metrics, /healthz and /readyz; 'none' turns it off.")
    public static let pidDir = Setting(
        "pid-dir", env: ["DMS_PID_DIR"], keys: ["pid_dir"], default: "/run/dms/s3", value: "dir",
        "PID files <target_id>.pid and the agent's lock.")
    public static let mountBase = Setting(
        "mount-base", env: ["DMS_MOUNT_BASE_PATH"], keys: ["mount_base_path"],
        default: "/var/lib/trilio/triliovault-mounts",
        value: "dir", "Every mount path must lie below it; several roots comma-separated.")
    public static let s3vaultfuseBin = Setting(
        "s3vaultfuse-bin", env: ["DMS_S3VAULTFUSE_BIN"], keys: ["s3vaultfuse_bin"], default: "/usr/bin/s3vaultfuse.py",
        value: "path", "The FUSE program, one process per S3 target.")
    public static let logDir = Setting(
        "log-dir", env: ["DMS_LOG_DIR"], keys: ["log_dir"], default: "/var/log/dms", value: "dir",
        "Per-target fuse output, <target_id>.log.")
    public static let killTimeout = Setting(
        "kill-timeout", env: ["DMS_KILL_TIMEOUT"], keys: ["kill_timeout"], default: "10 s", value: "duration",
        "Grace after unmount and again after SIGTERM, before SIGKILL.")
    public static let mountTimeout = Setting(
        "mount-timeout", env: ["DMS_MOUNT_TIMEOUT"], keys: ["mount_timeout"], default: "30 s", value: "duration",
        "How long a new s3vaultfuse has to mount before it is stopped and the job fails.")

    /// In the order of the README's table.
    public static let all: [Setting] = [
        configFile, rabbitmqURL, allowedPublishers, rabbitmqPasswordFile, nodeID, workers, maxRequestAge,
        rabbitmqQueueType,
        quorumQueue, rabbitmqQueueDurable, heartbeatInterval, barbicanURL, barbicanCABundle, barbicanSSLVerify,
        s3EnvFile,
        nfsCommandPrefix, nfsTimeout, logFile, logFormat, logLevel, metricsListen, pidDir, mountBase, s3vaultfuseBin,
        logDir,
        killTimeout, mountTimeout,
    ]

    /// A commented `server.conf` naming every config key with its default (the Debian package's conffile).
    public static func commentedConfigFile() -> String {
        var lines = [
            "# dms-agent configuration (INI). Keys go in [server] or [DEFAULT]; an option on the command line or an",
            "# environment variable wins over this file. Every key below is commented out at its default.",
            "# Keys the agent does not use (the Python server's auth_url, rootwrap_bin, ...) are accepted.",
            "# Broker TLS and reconnect settings may also come from [oslo_messaging_rabbit] (ssl, ssl_ca_file, ...).",
            "",
            "[DEFAULT]",
        ]
        for s in all where !s.keys.isEmpty {
            lines.append("")
            lines += wrapped(s.summary, width: 100).map { "# " + $0 }
            var origin = s.environment.isEmpty ? "" : "Environment: \(s.environment.joined(separator: ", ")). "
            if s.defaultText != "–" { origin += "Default: \(s.defaultText)." }
            if !origin.isEmpty { lines.append("# " + origin.trimmed) }
            // A default that is a description, not a value ("the host name", "stderr (journald)"), stays empty.
            let literal =
                !(s.defaultText.hasPrefix("the ") || s.defaultText.contains("(")
                || ["–", "anyone"].contains(s.defaultText))
            lines.append("#\(s.keys[0]) =" + (literal ? " " + s.defaultText : ""))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Words of `text` in lines of at most `width` characters.
    static func wrapped(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty, line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        return line.isEmpty ? lines : lines + [line]
    }

    /// The README's configuration table.
    public static func markdownTable() -> String {
        func code(_ names: [String]) -> String { names.isEmpty ? "–" : names.map { "`\($0)`" }.joined(separator: ", ") }
        var lines = ["| Option | Environment | Config key | Default | Meaning |", "|---|---|---|---|---|"]
        for s in all {
            lines.append(
                "| `--\(s.option)` | \(code(s.environment)) | \(code(s.keys)) | \(s.defaultText) | \(s.summary.replacingPipes) |"
            )
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate var replacingPipes: String {
        split(separator: "|", omittingEmptySubsequences: false).joined(separator: "\\|")
    }
}

/// A setting that cannot be used, naming where its value came from.
public struct SettingError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Resolution of settings, a pure function of its three sources: command-line option > environment variable >
/// config file (`[server]` over `[DEFAULT]`) > default.
public struct SettingsResolver: Sendable {
    /// Raw option values by option name (without `--`); nil values are absent options.
    public var options: [String: String]
    public var environment: [String: String]
    public var file: INIFile

    public init(options: [String: String?] = [:], environment: [String: String], file: INIFile = INIFile()) {
        self.options = options.compactMapValues { $0 }
        self.environment = environment
        self.file = file
    }

    /// The raw value and where it came from ("--node-id", "DMS_NODE_ID", "config key node_id"); nil when unset.
    /// An empty value counts as unset (`key =` in the file means the default).
    public func raw(_ setting: Setting) -> (value: String, source: String)? {
        if let v = options[setting.option], !v.trimmed.isEmpty { return (v, "--\(setting.option)") }
        for name in setting.environment { if let v = environment[name], !v.trimmed.isEmpty { return (v, name) } }
        for key in setting.keys { if let v = file[key], !v.trimmed.isEmpty { return (v, "config key \(key)") } }
        return nil
    }

    public func string(_ setting: Setting) -> String? { raw(setting)?.value }

    public func string(_ setting: Setting, default value: String) -> String { raw(setting)?.value ?? value }

    /// true/false, yes/no, 1/0, on/off (any case); anything else is an error naming where it came from.
    public func bool(_ setting: Setting) throws(SettingError) -> Bool? {
        guard let (value, source) = raw(setting) else { return nil }
        return try Self.parseBool(value, source: source)
    }

    public static func parseBool(_ value: String, source: String) throws(SettingError) -> Bool {
        switch value.lowercased() {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default: throw SettingError("\(source): expected true or false, got \(value.debugDescription)")
        }
    }

    /// A duration: seconds as a number (`30`, `0.5`) or with a unit (`500ms`, `30s`, `2m`, `1h`); never negative.
    public func duration(_ setting: Setting, default value: Duration) throws(SettingError) -> Duration {
        guard let (text, source) = raw(setting) else { return value }
        return try Self.parseDuration(text, source: source)
    }

    public static func parseDuration(_ text: String, source: String) throws(SettingError) -> Duration {
        let units: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = text.trimmed.lowercased()
        var scale = 1.0
        if let unit = units.first(where: {
            number.hasSuffix($0.suffix) && Double(number.dropLast($0.suffix.count).trimmed) != nil
        }) {
            number = number.dropLast(unit.suffix.count).trimmed
            scale = unit.seconds
        }
        guard let seconds = Double(number), seconds.isFinite, seconds >= 0, seconds * scale < 1e9 else {
            throw SettingError(
                "\(source): expected a duration such as 30, 30s, 500ms or 2m, got \(text.debugDescription)")
        }
        return .nanoseconds(Int64((seconds * scale * 1e9).rounded()))
    }

    /// A positive whole number.
    public func count(_ setting: Setting, default value: Int) throws(SettingError) -> Int {
        guard let (text, source) = raw(setting) else { return value }
        guard let n = Int(text.trimmed), n >= 1 else {
            throw SettingError("\(source): expected a whole number ≥ 1, got \(text.debugDescription)")
        }
        return n
    }

    /// Comma-separated, blanks dropped.
    public func list(_ setting: Setting) -> [String] {
        (string(setting) ?? "").split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }
    }

    /// Option > environment > file; at one level `rabbitmq-queue-type` before `quorum-queue`; classic when neither is set.
    public func queueType() throws(SettingError) -> QueueType {
        func level(_ source: String) -> Int { source.hasPrefix("--") ? 0 : source.hasPrefix("config key") ? 2 : 1 }
        let type = raw(Settings.rabbitmqQueueType)
        let quorum = raw(Settings.quorumQueue)
        if let (value, source) = type, quorum.map({ level(source) <= level($0.source) }) ?? true {
            guard let parsed = QueueType(rawValue: value.lowercased()) else {
                throw SettingError("\(source): expected classic or quorum, got \(value.debugDescription)")
            }
            return parsed
        }
        guard let (value, source) = quorum else { return .classic }
        return try Self.parseBool(value, source: source) ? .quorum : .classic
    }

    /// Config keys the agent reads; others (the Python server's `auth_url`, `rootwrap_bin`, …, or a shared oslo
    /// file's) are accepted and named once at debug level.
    public var unusedKeys: [String] {
        let known = Set(Settings.all.flatMap(\.keys))
        return file.values.keys.filter { !known.contains($0) }.sorted()
    }
}
