import ArgumentParser
import DMSAgentCore
import DMSNodeTools
import DMSSettings
import FoundationEssentials
import Logging

/// Every setting of `run`, shared with `doctor` (the same resolution).
struct AgentOptions: ParsableArguments {
    @OptionGroup var manager: ManagerOptions

    @Option(name: Settings.rabbitmqURL.name, help: Settings.rabbitmqURL.argumentHelp) var rabbitmqURL: String?
    @Option(name: Settings.allowedPublishers.name, help: Settings.allowedPublishers.argumentHelp) var allowedPublishers:
        String?
    @Option(name: Settings.rabbitmqPasswordFile.name, help: Settings.rabbitmqPasswordFile.argumentHelp)
    var rabbitmqPasswordFile: String?
    @Option(name: Settings.nodeID.name, help: Settings.nodeID.argumentHelp) var nodeID: String?
    @Option(name: Settings.workers.name, help: Settings.workers.argumentHelp) var workers: String?
    @Option(name: Settings.maxRequestAge.name, help: Settings.maxRequestAge.argumentHelp) var maxRequestAge: String?
    @Option(name: Settings.maxJobAttempts.name, help: Settings.maxJobAttempts.argumentHelp) var maxJobAttempts: String?
    @Option(name: Settings.maxPendingJobs.name, help: Settings.maxPendingJobs.argumentHelp) var maxPendingJobs: String?
    @Option(name: Settings.rabbitmqQueueType.name, help: Settings.rabbitmqQueueType.argumentHelp) var rabbitmqQueueType:
        String?
    @Flag(name: Settings.quorumQueue.name, help: ArgumentHelp(Settings.quorumQueue.help)) var quorumQueue = false
    @Option(name: Settings.rabbitmqQueueDurable.name, help: Settings.rabbitmqQueueDurable.argumentHelp)
    var rabbitmqQueueDurable: String?
    @Option(name: Settings.heartbeatInterval.name, help: Settings.heartbeatInterval.argumentHelp) var heartbeatInterval:
        String?
    @Option(name: Settings.s3EnvFile.name, help: Settings.s3EnvFile.argumentHelp) var s3EnvFile: String?
    @Option(name: Settings.nfsCommandPrefix.name, help: Settings.nfsCommandPrefix.argumentHelp) var nfsCommandPrefix:
        String?
    @Option(name: Settings.nfsTimeout.name, help: Settings.nfsTimeout.argumentHelp) var nfsTimeout: String?
    @Option(name: Settings.logFile.name, help: Settings.logFile.argumentHelp) var logFile: String?
    @Option(name: Settings.logMaxBytes.name, help: Settings.logMaxBytes.argumentHelp) var logMaxBytes: String?
    @Option(name: Settings.logBackupCount.name, help: Settings.logBackupCount.argumentHelp) var logBackupCount: String?
    @Option(name: Settings.deadLetterQueue.name, help: Settings.deadLetterQueue.argumentHelp) var deadLetterQueue:
        String?
    @Option(name: Settings.metricsListen.name, help: Settings.metricsListen.argumentHelp) var metricsListen: String?
    @Option(name: Settings.barbicanURL.name, help: Settings.barbicanURL.argumentHelp)
    var barbicanURL: String?
    @Option(name: Settings.barbicanCABundle.name, help: Settings.barbicanCABundle.argumentHelp) var barbicanCABundle:
        String?
    @Option(name: Settings.barbicanSSLVerify.name, help: Settings.barbicanSSLVerify.argumentHelp) var barbicanSSLVerify:
        String?

    func resolver() throws -> SettingsResolver {
        try manager.resolver(adding: [
            Settings.rabbitmqURL: rabbitmqURL, Settings.allowedPublishers: allowedPublishers,
            Settings.rabbitmqPasswordFile: rabbitmqPasswordFile, Settings.nodeID: nodeID, Settings.workers: workers,
            Settings.maxRequestAge: maxRequestAge, Settings.rabbitmqQueueType: rabbitmqQueueType,
            Settings.maxJobAttempts: maxJobAttempts, Settings.maxPendingJobs: maxPendingJobs,
            Settings.quorumQueue: quorumQueue ? "true" : nil, Settings.rabbitmqQueueDurable: rabbitmqQueueDurable,
            Settings.heartbeatInterval: heartbeatInterval, Settings.s3EnvFile: s3EnvFile,
            Settings.nfsCommandPrefix: nfsCommandPrefix,
            Settings.nfsTimeout: nfsTimeout, Settings.logFile: logFile, Settings.logMaxBytes: logMaxBytes,
            Settings.logBackupCount: logBackupCount, Settings.deadLetterQueue: deadLetterQueue,
            Settings.metricsListen: metricsListen,
            Settings.barbicanURL: barbicanURL, Settings.barbicanCABundle: barbicanCABundle,
            Settings.barbicanSSLVerify: barbicanSSLVerify,
        ])
    }

    func metricsListen(_ r: SettingsResolver) -> String { r.string(Settings.metricsListen, default: "127.0.0.1:9464") }

    func configuration(_ r: SettingsResolver) throws -> AgentConfiguration {
        do { return try r.agent(hostName: HostName.current) } catch { throw ValidationError(error.description) }
    }
}
