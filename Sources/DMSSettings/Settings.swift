import DMSWire

package enum Settings {
    /// The broker of a single-node test install, as the original server's default.
    package static let defaultBrokerURL = "amqp://guest:guest@localhost:5672/"

    package static let configFile = Setting(
        "config-file", env: ["DMS_CONFIG_FILE"], keys: [], default: "–", value: "path",
        "INI file with [server]/[DEFAULT] keys and [oslo_messaging_rabbit], e.g. /etc/triliovault-dms/server.conf; "
            + "repeatable: files are read in order and a later one overrides an earlier one key by key (oslo.config).")
    package static let configDir = Setting(
        "config-dir", env: ["DMS_CONFIG_DIR"], keys: [], default: "–", value: "dir",
        "Also read DIR/*.conf in sorted order, after every --config-file.")
    package static let debug = Setting(
        "debug", env: ["DMS_DEBUG"], keys: ["debug"], default: "false", value: "bool",
        "Log at debug level, whatever log_level says (oslo's -d/--debug).")
    package static let rabbitmqURL = Setting(
        "rabbitmq-url", env: ["DMS_RABBITMQ_URL", "DMS_TRANSPORT_URL"], keys: ["rabbitmq_url", "transport_url"],
        default: defaultBrokerURL, value: "url",
        "amqp://user:pass@host:port/vhost or oslo's transport_url (rabbit://u:p@h1:5672,u2:p2@h2:5672/vhost?ssl=1; also amqps, "
            + "rabbitmq, rabbit+ssl; query ssl, ssl_ca_file, ssl_cert_file, ssl_key_file, heartbeat, verify=verify_none)."
    )
    package static let allowedPublishers = Setting(
        "allowed-publishers", env: ["DMS_ALLOWED_PUBLISHERS"], keys: ["allowed_publishers"], default: "anyone",
        value: "users",
        "Broker users allowed to publish requests, comma-separated: a request whose AMQP user_id (validated by the broker) "
            + "is missing or another is refused.")
    package static let rabbitmqPasswordFile = Setting(
        "rabbitmq-password-file", env: ["DMS_RABBITMQ_PASSWORD_FILE"], keys: ["rabbitmq_password_file"], default: "–",
        value: "path", "Read the broker password from this file.")
    package static let nodeID = Setting(
        "node-id", env: ["DMS_NODE_ID"], keys: ["node_id"], default: "the host name", value: "id",
        "This node's id: the queue is dms.<node-id>; the orchestrator addresses nova's host name.")
    package static let workers = Setting(
        "workers", env: ["DMS_WORKERS"], keys: ["worker_threads"], default: "10", value: "n",
        "Jobs run in parallel (different targets) and the consumer prefetch.")
    package static let maxRequestAge = Setting(
        "max-request-age", env: ["DMS_MAX_REQUEST_AGE"], keys: ["max_request_age"], default: "300 s", value: "duration",
        "Requests older than this (AMQP timestamp) are answered 'expired'.")
    package static let maxJobAttempts = Setting(
        "max-job-attempts", env: ["DMS_MAX_JOB_ATTEMPTS"], keys: ["max_job_attempts"], default: "3", value: "n",
        "A job during which the agent died this many times (running alone) is answered 'attempts_exhausted' and "
            + "dead-lettered, not run again.")
    package static let maxPendingJobs = Setting(
        "max-pending-jobs", env: ["DMS_MAX_PENDING_JOBS"], keys: ["max_pending_jobs"], default: "10000", value: "n",
        "Jobs taken from the queue (journaled and acked) and not yet answered, at most; beyond, requests wait in "
            + "the queue.")
    package static let rabbitmqQueueType = Setting(
        "rabbitmq-queue-type", env: ["DMS_RABBITMQ_QUEUE_TYPE"], keys: ["rabbitmq_queue_type"], default: "classic",
        value: "type",
        "classic or quorum: the type dms.<node-id> and the dead-letter queue are declared with when they do not exist "
            + "yet (an existing queue is consumed as it is).")
    package static let deadLetterQueue = Setting(
        "dead-letter-queue", env: ["DMS_DEAD_LETTER_QUEUE"], keys: ["dead_letter_queue"], default: "trilio_dms.dead",
        value: "queue",
        "The one queue every node keeps its refused requests in (scrubbed, headers x-dms-node, x-dms-error-code, "
            + "x-dms-error); met passively, declared only when missing.")
    package static let quorumQueue = Setting(
        "quorum-queue", env: ["DMS_QUORUM_QUEUE"], keys: ["rabbit_quorum_queue"], default: "false", value: "bool",
        "Same as --rabbitmq-queue-type quorum (rabbit_quorum_queue is oslo.messaging's name).")
    package static let rabbitmqQueueDurable = Setting(
        "rabbitmq-queue-durable", env: ["DMS_RABBITMQ_QUEUE_DURABLE"],
        keys: ["rabbitmq_queue_durable", "amqp_durable_queues"],
        default: "true", value: "bool", "Declare the queues durable (quorum queues always are).")
    package static let heartbeatInterval = Setting(
        "heartbeat-interval", env: ["DMS_HEARTBEAT_INTERVAL"], keys: ["heartbeat_interval"], default: "30 s",
        value: "duration",
        "node.heartbeat event period; 0 turns it off.")
    package static let barbicanCABundle = Setting(
        "barbican-ca-bundle", env: ["DMS_BARBICAN_CA_BUNDLE"], keys: ["barbican_ca_bundle"],
        default: "the system CA store",
        value: "path", "CA bundle for Barbican's TLS certificate.")
    package static let barbicanURL = Setting(
        "barbican-url", env: ["DMS_BARBICAN_URL"], keys: ["barbican_url"], default: "–", value: "url",
        "Barbican's endpoint, e.g. https://barbican:9311, for doctor's check that it is reachable and its certificate "
            + "verifies with barbican_ca_bundle (requests name their own secret_ref).")
    package static let barbicanSSLVerify = Setting(
        "barbican-ssl-verify", env: ["DMS_BARBICAN_SSL_VERIFY"], keys: ["barbican_ssl_verify"], default: "true",
        value: "bool",
        "Verify Barbican's certificate.")
    package static let s3EnvFile = Setting(
        "s3-env-file", env: ["DMS_S3_ENV_FILE"], keys: ["s3vaultfuse_env_file"], default: "–", value: "path",
        "Global s3vaultfuse settings (KEY=VALUE lines), under each secret's.")
    package static let nfsCommandPrefix = Setting(
        "nfs-command-prefix", env: ["DMS_NFS_COMMAND_PREFIX"], keys: ["nfs_command_prefix"], default: "–", value: "cmd",
        "Prefix for NFS mount/umount, e.g. 'sudo'.")
    package static let nfsTimeout = Setting(
        "nfs-timeout", env: ["DMS_NFS_TIMEOUT"], keys: ["nfs_timeout"], default: "60 s", value: "duration",
        "Deadline of each NFS mount/umount; past it the command's whole session is stopped and the job fails.")
    package static let logFile = Setting(
        "log-file", env: ["DMS_LOG_FILE"], keys: ["log_file"], default: "stderr (journald)", value: "path",
        "Append logs to this file; SIGHUP reopens it (logrotate's postrotate).")
    package static let logMaxBytes = Setting(
        "log-max-bytes", env: ["DMS_LOG_MAX_BYTES"], keys: ["log_max_bytes"], default: "52428800", value: "bytes",
        "Rotate log_file before it would grow past this size (K, M or G suffixes allowed); 0 turns rotation off.")
    package static let logBackupCount = Setting(
        "log-backup-count", env: ["DMS_LOG_BACKUP_COUNT"], keys: ["log_backup_count"], default: "5", value: "n",
        "Rotated files kept, <log_file>.1 (newest) to .N, as Python's RotatingFileHandler; 0 turns rotation off.")
    package static let logFormat = Setting(
        "log-format", env: ["DMS_LOG_FORMAT"], keys: ["log_format"], default: "text", value: "format",
        "text or json (one JSON object per line).")
    package static let logLevel = Setting(
        "log-level", env: ["DMS_LOG_LEVEL"], keys: ["log_level"], default: "info", value: "level",
        "trace, debug, info, notice, warning, error or critical.")
    package static let metricsListen = Setting(
        "metrics-listen", env: ["DMS_METRICS_LISTEN"], keys: ["metrics_listen"], default: "127.0.0.1:9464",
        value: "addr",
        "host:port, [ipv6]:port or *:port (every address) for /metrics, /healthz and /readyz; 'none' turns it off.")
    package static let pidDir = Setting(
        "pid-dir", env: ["DMS_PID_DIR"], keys: ["pid_dir"], default: "/run/dms/s3", value: "dir",
        "PID files <target_id>.pid and the agent's lock.")
    package static let mountBase = Setting(
        "mount-base", env: ["DMS_MOUNT_BASE_PATH"], keys: ["mount_base_path"],
        default: "/var/lib/trilio/triliovault-mounts",
        value: "dir", "Every mount path must lie below it; several roots comma-separated.")
    package static let s3vaultfuseBin = Setting(
        "s3vaultfuse-bin", env: ["DMS_S3VAULTFUSE_BIN"], keys: ["s3vaultfuse_bin"], default: "/usr/bin/s3vaultfuse.py",
        value: "path", "The FUSE program, one process per S3 target.")
    package static let logDir = Setting(
        "log-dir", env: ["DMS_LOG_DIR"], keys: ["log_dir"], default: "/var/log/dms", value: "dir",
        "Per-target fuse output, <target_id>.log.")
    package static let killTimeout = Setting(
        "kill-timeout", env: ["DMS_KILL_TIMEOUT"], keys: ["kill_timeout"], default: "10 s", value: "duration",
        "Grace after unmount and again after SIGTERM, before SIGKILL.")
    package static let adoptUsers = Setting(
        "adopt-users", env: ["DMS_ADOPT_USERS"], keys: ["adopt_users"], default: "nova", value: "users",
        "Users besides root and the agent's own whose s3vaultfuse processes and PID files the agent adopts and stops "
            + "(the user a replaced Python server ran as), comma-separated names or uids; 'none' for none. A live fuse of "
            + "any other user is left alone and reported.")
    package static let mountTimeout = Setting(
        "mount-timeout", env: ["DMS_MOUNT_TIMEOUT"], keys: ["mount_timeout"], default: "30 s", value: "duration",
        "How long a new s3vaultfuse has to mount before it is stopped and the job fails.")

    /// In the order of the README's table.
    package static let all: [Setting] = [
        configFile, configDir, rabbitmqURL, allowedPublishers, rabbitmqPasswordFile, nodeID, workers, maxRequestAge,
        maxJobAttempts, maxPendingJobs, rabbitmqQueueType, quorumQueue, rabbitmqQueueDurable, deadLetterQueue,
        heartbeatInterval, barbicanURL, barbicanCABundle, barbicanSSLVerify, s3EnvFile, nfsCommandPrefix, nfsTimeout,
        logFile, logMaxBytes, logBackupCount, logFormat, logLevel, debug, metricsListen, pidDir, mountBase,
        s3vaultfuseBin, logDir, killTimeout, mountTimeout, adoptUsers,
    ]

    /// Keys of the Python server (and oslo's common ones) the agent accepts without using: named once at debug
    /// level. Any other key is a typo or a misplaced file until shown otherwise: named once as a warning.
    package static let acceptedKeys: Set<String> = [
        "auth_url", "rootwrap_bin", "rootwrap_conf", "request_timeout", "db_url", "cafile", "verbose",
        "use_stderr", "use_journal", "use_syslog", "log_config_append", "log_date_format",
    ]

    /// A commented `server.conf` naming every config key with its default (the Debian package's conffile).
    package static func commentedConfigFile() -> String {
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
    package static func markdownTable() -> String {
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
