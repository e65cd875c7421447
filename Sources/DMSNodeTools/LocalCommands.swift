package import DMSSettings
import DMSWire
import FoundationEssentials
package import Logging
import VaultFuse

/// The local commands (`status`, `cleanup`, `mount`, `unmount`), without a broker: the PID directory read as the
/// agent reads it, or the manager driven directly. Refuses to run beside an agent (the PID-directory lock).
package final class LocalCommands: Sendable {
    let manager: S3VaultFuseManager

    /// Takes the PID-directory lock.
    package init(_ settings: SettingsResolver, logger: Logger) throws(LocalCommandError) {
        let configuration: VaultFuseConfiguration
        do { configuration = try settings.vaultFuse() } catch {
            throw LocalCommandError(.invalidSetting, error.description)
        }
        do {
            manager = try S3VaultFuseManager(configuration: configuration, logger: logger)
        } catch {
            throw LocalCommandError(error.code == .lockHeld ? .pidDirectoryLocked : .failed, error.message)
        }
    }

    deinit { manager.shutdown() }

    /// The PID directory checked the way the agent checks it, changing nothing: text, or JSON.
    package static func status(_ settings: SettingsResolver, json: Bool) throws -> String {
        let report = DirectoryReport.read(try settings.vaultFuse())
        guard json else { return report.text }
        return String(decoding: try JSONEncoder.pretty.encode(report), as: UTF8.self)
    }

    /// Adopts what is ours, removes stale PID files and mounts nobody serves; never kills.
    package func cleanup() async -> String {
        let report = await manager.recover()
        return "adopted=\(report.loaded) cleaned=\(report.cleaned)"
    }

    package func mount(target: String, path: String, environment: [String: String]) async throws(LocalCommandError)
        -> String
    {
        do {
            switch try await manager.spawn(targetID: target, mountPath: path, environment: environment) {
            case .started(let pid): return ReplyText.s3Mounted(path) + " (pid \(pid))"
            case .alreadyRunning(let pid): return ReplyText.alreadyMounted(path) + " (pid \(pid))"
            }
        } catch {
            throw LocalCommandError(.failed, "error [\(error.code)]: \(error.message)", logTail: error.logTail)
        }
    }

    package func unmount(target: String, lazy: Bool) async throws(LocalCommandError) -> String {
        do {
            switch try await manager.stop(targetID: target, lazyIfBusy: lazy) {
            case .stopped(let pid, let path): return ReplyText.unmounted(path) + " (pid \(pid))"
            case .notRunning: return "Target not mounted"
            }
        } catch {
            throw LocalCommandError(.failed, "error [\(error.code)]: \(error.message)")
        }
    }
}
