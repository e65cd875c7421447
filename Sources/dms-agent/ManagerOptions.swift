import ArgumentParser
import DMSSettings
import FoundationEssentials
import Logging

/// The settings of the local commands (`status`, `cleanup`, `mount`, `unmount`) and of `run` and `doctor`: raw
/// strings, resolved by `SettingsResolver` (option > environment > config file > default), whose errors exit 64.
struct ManagerOptions: ParsableArguments {
    @Option(name: Settings.configFile.name, help: Settings.configFile.argumentHelp) var configFile: [String] = []
    @Option(name: Settings.configDir.name, help: Settings.configDir.argumentHelp) var configDir: String?
    @Option(name: Settings.pidDir.name, help: Settings.pidDir.argumentHelp) var pidDir: String?
    @Option(name: Settings.mountBase.name, help: Settings.mountBase.argumentHelp) var mountBase: String?
    @Option(name: Settings.s3vaultfuseBin.name, help: Settings.s3vaultfuseBin.argumentHelp) var s3vaultfuseBin: String?
    @Option(name: Settings.logDir.name, help: Settings.logDir.argumentHelp) var logDir: String?
    @Option(name: Settings.killTimeout.name, help: Settings.killTimeout.argumentHelp) var killTimeout: String?
    @Option(name: Settings.mountTimeout.name, help: Settings.mountTimeout.argumentHelp) var mountTimeout: String?
    @Option(name: Settings.adoptUsers.name, help: Settings.adoptUsers.argumentHelp) var adoptUsers: String?
    @Option(name: Settings.logFormat.name, help: Settings.logFormat.argumentHelp) var logFormat: String?
    @Option(name: Settings.logLevel.name, help: Settings.logLevel.argumentHelp) var logLevel: String?
    @Flag(name: [.customLong(Settings.debug.option), .customShort("d")], help: ArgumentHelp(Settings.debug.help))
    var debug = false

    var values: [Setting: String?] {
        [
            Settings.configDir: configDir, Settings.debug: debug ? "true" : nil, Settings.pidDir: pidDir,
            Settings.mountBase: mountBase,
            Settings.s3vaultfuseBin: s3vaultfuseBin,
            Settings.logDir: logDir, Settings.killTimeout: killTimeout, Settings.mountTimeout: mountTimeout,
            Settings.adoptUsers: adoptUsers,
            Settings.logFormat: logFormat,
            Settings.logLevel: logLevel,
        ]
    }

    func resolver(adding more: [Setting: String?] = [:]) throws -> SettingsResolver {
        let options = values.merging(more) { a, _ in a }
        var r = SettingsResolver(
            options: Dictionary(uniqueKeysWithValues: options.map { ($0.key.option, $0.value) }),
            environment: ProcessInfo.processInfo.environment)
        // Every --config-file in order (oslo.config), else its environment variable; then the directory's *.conf.
        let files = configFile.isEmpty ? r.string(Settings.configFile).map { [$0] } ?? [] : configFile
        do { r.file = try ConfigFiles(files: files, directory: r.string(Settings.configDir)) } catch {
            throw ValidationError(error.description)
        }
        do {
            _ = try r.bool(Settings.debug)
            _ = try logRotation(r)
        } catch { throw ValidationError(error.description) }
        return r
    }

    /// `log_max_bytes` and `log_backup_count`, as the original server's RotatingFileHandler takes them.
    func logRotation(_ r: SettingsResolver) throws(SettingError) -> LogSink.Rotation {
        LogSink.Rotation(
            maxBytes: try r.bytes(Settings.logMaxBytes, default: 50 << 20),
            backupCount: try r.count(Settings.logBackupCount, default: 5, atLeast: 0))
    }

    /// Logs of the local commands: always stderr.
    func makeLogger(_ r: SettingsResolver, label: String = "dms-agent") -> Logger {
        makeLogging(r, label: label, toLogFile: false).logger
    }

    /// `toLogFile`: `run` appends to `--log-file` when set (rotated; `sink.reopen()` on SIGHUP).
    func makeLogging(_ r: SettingsResolver, label: String = "dms-agent", toLogFile: Bool) -> (
        logger: Logger, sink: LogSink
    ) {
        let json = r.string(Settings.logFormat, default: "text") == "json"
        let debug = (try? r.bool(Settings.debug)) ?? false  // validated by resolver()
        let level =
            debug ? .debug : Logger.Level(rawValue: r.string(Settings.logLevel, default: "info").lowercased()) ?? .info
        let sink = LogSink.open(
            path: toLogFile ? r.string(Settings.logFile) : nil,
            rotation: (try? logRotation(r)) ?? .init(maxBytes: 0, backupCount: 0))
        LoggingSystem.bootstrap { label in
            var handler = AgentLogHandler(label: label, json: json, sink: sink)
            handler.logLevel = level
            return handler
        }
        return (Logger(label: label), sink)
    }
}
