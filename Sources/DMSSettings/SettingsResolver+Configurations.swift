import AMQP
package import DMSAgentCore
import Glibc
package import VaultFuse

// From settings to the configurations `run`, `doctor` and the local commands use. Pure but for reading the
// broker password file when one is named.
extension SettingsResolver {
    package func vaultFuse() throws(SettingError) -> VaultFuseConfiguration {
        var c = VaultFuseConfiguration()
        c.pidDirectory = string(Settings.pidDir, default: c.pidDirectory)
        c.mountBases = string(Settings.mountBase, default: c.mountBase)
            .split(separator: ",").map { "/" + $0.split(separator: "/").joined(separator: "/") }.filter { $0 != "/" }
        if c.mountBases.isEmpty {
            throw SettingError("mount base: expected one or more absolute directories other than /")
        }
        c.binary = string(Settings.s3vaultfuseBin, default: c.binary)
        c.logDirectory = string(Settings.logDir, default: c.logDirectory)
        c.killTimeout = try duration(Settings.killTimeout, default: c.killTimeout)
        c.mountTimeout = try duration(Settings.mountTimeout, default: c.mountTimeout)
        c.adoptableUIDs = Self.uids(raw(Settings.adoptUsers) == nil ? ["nova"] : list(Settings.adoptUsers))
        return c
    }

    /// User names (or numeric uids) as uids; a name this host does not know is skipped (`doctor` names it).
    static func uids(_ names: [String]) -> Set<UInt32> {
        var uids: Set<UInt32> = []
        for name in names where name != "none" {
            if let uid = UInt32(name) {
                uids.insert(uid)
            } else if let entry = getpwnam(name) {
                uids.insert(entry.pointee.pw_uid)
            }
        }
        return uids
    }

    /// The broker URL as given, credentials included (`submit` reads it too).
    package var brokerURL: String { string(Settings.rabbitmqURL, default: Settings.defaultBrokerURL) }

    /// Everything `run` needs; `hostName` is the node id's default.
    package func agent(hostName: String) throws(SettingError) -> AgentConfiguration {
        let url = brokerURL
        var amqp: AMQPConfiguration
        do {
            amqp = try AMQPConfiguration(url: url)
            try applyOsloRabbit(to: &amqp, url: url)
            if let file = string(Settings.rabbitmqPasswordFile) { try amqp.readPassword(fromFile: file) }
        } catch let error as SettingError {
            throw error
        } catch {
            throw SettingError("\(error)")
        }
        let node = string(Settings.nodeID, default: hostName)
        amqp.spread(by: node)
        var config = AgentConfiguration(nodeID: node, amqp: amqp, vaultFuse: try vaultFuse())
        config.workers = try count(Settings.workers, default: config.workers)
        config.maxRequestAge = try duration(Settings.maxRequestAge, default: config.maxRequestAge)
        config.maxJobAttempts = try count(Settings.maxJobAttempts, default: config.maxJobAttempts)
        config.maxPendingJobs = try count(Settings.maxPendingJobs, default: config.maxPendingJobs)
        config.queueType = try queueType()
        config.queueDurable = try bool(Settings.rabbitmqQueueDurable) ?? config.queueDurable
        config.heartbeatInterval = try duration(Settings.heartbeatInterval, default: config.heartbeatInterval)
        config.allowedPublishers = Set(list(Settings.allowedPublishers))
        if let (name, source) = raw(Settings.deadLetterQueue) {
            guard name.utf8.count <= 255, !name.hasPrefix("amq."), !name.contains(" ") else {
                throw SettingError(
                    "\(source): expected a queue name (≤ 255 bytes, not amq.*), got \(name.debugDescription)")
            }
            config.deadLetterQueue = name
        }
        config.s3EnvFile = string(Settings.s3EnvFile)
        config.barbicanCABundle = string(Settings.barbicanCABundle)
        config.barbicanURL = string(Settings.barbicanURL)
        config.barbicanVerifyTLS = try bool(Settings.barbicanSSLVerify) ?? config.barbicanVerifyTLS
        config.nfsTimeout = try duration(Settings.nfsTimeout, default: config.nfsTimeout)
        if let prefix = string(Settings.nfsCommandPrefix) {
            config.nfsCommandPrefix = prefix.split(separator: " ").map(String.init)
        }
        return config
    }

    /// `[oslo_messaging_rabbit]` of the config file, as every other per-host OpenStack service reads it; the URL's
    /// own query (`?ssl=1`) wins. `rabbit_retry_backoff` (oslo's linear step) is accepted: the agent grows its delay
    /// exponentially with jitter from `rabbit_retry_interval` up to `rabbit_interval_max`.
    func applyOsloRabbit(to amqp: inout AMQPConfiguration, url: String) throws {
        let oslo = file.section("oslo_messaging_rabbit")
        if let v = oslo["ssl"], try Self.parseBool(v, source: "[oslo_messaging_rabbit] ssl"), amqp.tls == nil {
            try amqp.applyQuery("ssl=1")
        }
        for key in ["ssl_ca_file", "ssl_cert_file", "ssl_key_file"] {
            if let v = oslo[key], amqp.tls != nil { try amqp.applyQuery("\(key)=\(v)") }
        }
        if let v = oslo["heartbeat_timeout_threshold"] {
            guard let seconds = Int(v), seconds >= 0 else {
                throw SettingError("[oslo_messaging_rabbit] heartbeat_timeout_threshold: expected seconds, got \(v)")
            }
            amqp.heartbeat = seconds
        }
        if let v = oslo["rabbit_login_method"] { try amqp.applyQuery("login_method=\(v)") }
        if let v = oslo["rabbit_retry_interval"], let seconds = Double(v), seconds > 0 {
            amqp.reconnectInitialDelay = .seconds(seconds)
        }
        if let v = oslo["rabbit_interval_max"], let seconds = Double(v), seconds > 0 {
            amqp.reconnectMaxDelay = .seconds(seconds)
        }
        // The URL's query wins over the file.
        if let q = url.firstIndex(of: "?") { try amqp.applyQuery(String(url[url.index(after: q)...])) }
    }
}
