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

    func bool(_ flag: Bool, env key: String?, file fileKey: String?) -> Bool {
        if flag { return true }
        if let v = key.flatMap({ env[$0] }) { return ["1", "true", "yes", "on"].contains(v.lowercased()) }
        return fileKey.flatMap { file.bool($0) } ?? false
    }
}

struct ManagerOptions: ParsableArguments {
    @Option(name: .customLong("config-file"), help: ArgumentHelp("INI file with [server]/[DEFAULT] keys, e.g. /etc/triliovault-dms/server.conf.", valueName: "path"))
    var configFile: String?

    @Option(help: ArgumentHelp("PID files and the agent lock. Env DMS_PID_DIR. Default /run/dms/s3.", valueName: "dir"))
    var pidDir: String?

    @Option(help: ArgumentHelp("Every mount path must lie below it. Env DMS_MOUNT_BASE_PATH, key mount_base_path. Default /var/lib/trilio/triliovault-mounts.", valueName: "dir"))
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

    func vaultFuse(_ r: Resolver) -> VaultFuseConfiguration {
        var c = VaultFuseConfiguration()
        c.pidDirectory = r.string(pidDir, env: "DMS_PID_DIR", file: "pid_dir", default: c.pidDirectory)
        c.mountBase = r.string(mountBase, env: "DMS_MOUNT_BASE_PATH", file: "mount_base_path", default: c.mountBase)
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
