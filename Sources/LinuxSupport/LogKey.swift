/// The one set of log metadata keys, snake_case, units in the values ("12.3ms"), never in the keys. Every module
/// logs with these (as kafka-client's KafkaLoggingKeys); docs/operations.md lists them.
package enum LogKey {
    /// What the broker reports where it differs from what was configured.
    package static let brokerSays = "broker_says"
    /// An exchange's name.
    package static let exchange = "exchange"
    /// Where a queue or exchange came from: existed, declared, unavailable.
    package static let origin = "origin"
    /// The job's action: mount, unmount, status.
    package static let action = "action"
    /// The AMQP connection's name as the broker shows it.
    package static let amqpConnection = "amqp_connection"
    /// Which connection of this client (1, then +1 per reconnect).
    package static let amqpGeneration = "amqp_generation"
    /// Host:port of the broker connected to.
    package static let amqpHost = "amqp_host"
    /// Where (a file and line, a stage).
    package static let at = "at"
    /// The how-many-th run of a job (deaths counted by the agent).
    package static let attempt = "attempt"
    /// Runs a job has had.
    package static let attempts = "attempts"
    /// A request body, scrubbed.
    package static let body = "body"
    /// The broker URL, password hidden.
    package static let broker = "broker"
    /// How many were cleaned.
    package static let cleaned = "cleaned"
    /// A stable machine-readable code (reply or error).
    package static let code = "code"
    /// The request's correlation id.
    package static let correlationID = "correlation_id"
    /// The broker's x-delivery-count.
    package static let deliveryCount = "delivery_count"
    /// The delivery's tag on its channel.
    package static let deliveryTag = "delivery_tag"
    /// More of what happened.
    package static let detail = "detail"
    /// How long it took, with its unit.
    package static let elapsed = "elapsed"
    /// What failed.
    package static let error = "error"
    /// A manager or status event.
    package static let event = "event"
    /// How many are held back.
    package static let held = "held"
    /// Jobs begun and not finished.
    package static let inFlight = "in_flight"
    /// The request's jobid, named as on the wire.
    package static let jobID = "jobid"
    /// How many jobs.
    package static let jobs = "jobs"
    /// The job's sequence number in the job journal.
    package static let journalSeq = "journal_seq"
    /// A setting's config key.
    package static let key = "key"
    /// Config keys.
    package static let keys = "keys"
    /// A configured limit.
    package static let limit = "limit"
    /// The address listened on.
    package static let listen = "listen"
    /// How many were loaded.
    package static let loaded = "loaded"
    /// The log file.
    package static let logFile = "log_file"
    /// The mount base(s).
    package static let mountBase = "mount_base"
    /// A target's mount path.
    package static let mountPath = "mount_path"
    /// This node's id.
    package static let nodeID = "node_id"
    /// How an operation ended.
    package static let outcome = "outcome"
    /// How far past its deadline, with its unit.
    package static let overdue = "overdue"
    /// A file system path.
    package static let path = "path"
    /// How many are pending.
    package static let pending = "pending"
    /// A process id.
    package static let pid = "pid"
    /// The PID directory.
    package static let pidDirectory = "pid_dir"
    /// A queue name.
    package static let queue = "queue"
    /// Why.
    package static let reason = "reason"
    /// The broker's redelivered flag.
    package static let redelivered = "redelivered"
    /// Recorded replies not yet confirmed, sent again.
    package static let repliesToResend = "replies_to_resend"
    /// The AMQP reply code the broker sent.
    package static let replyCode = "reply_code"
    /// The request's reply_to.
    package static let replyTo = "reply_to"
    /// Deliveries the broker requeues when it closes a channel.
    package static let requeuedByBroker = "requeued_by_broker"
    /// How many publishes were sent again.
    package static let resent = "resent"
    /// The wait before the next attempt, with its unit.
    package static let retryIn = "retry_in"
    /// Jobs that run alone before any other.
    package static let runAloneFirst = "run_alone_first"
    /// A reply's status.
    package static let status = "status"
    /// The backup target's id.
    package static let targetID = "target_id"
    /// Jobs that were running when the last agent stopped.
    package static let wereRunning = "were_running"
    /// The job concurrency.
    package static let workers = "workers"
}

/// Metadata values with their unit.
package enum LogValue {
    /// `12.3ms` below a second, `4.56s` above.
    package static func duration(_ duration: Duration) -> String {
        let seconds = duration.seconds
        return seconds < 1 ? "\(Double(Int(seconds * 10_000)) / 10)ms" : "\(Double(Int(seconds * 100)) / 100)s"
    }
}
