import FoundationEssentials
import Logging
import VaultFuse

/// What the local commands (`status`, `cleanup`, `mount`, `unmount`) do, without a broker: the PID directory read
/// as the agent reads it, or the manager driven directly. Refuses to run beside an agent (the PID-directory lock).
public final class LocalTargets: Sendable {
    let manager: S3VaultFuseManager

    /// Takes the PID-directory lock.
    public init(_ settings: SettingsResolver, logger: Logger) throws(CommandError) {
        do {
            manager = try S3VaultFuseManager(configuration: try settings.vaultFuse(), logger: logger)
        } catch let error as VaultFuseError {
            throw CommandError(error.message, exitCode: 3)
        } catch {
            throw CommandError("\(error)", exitCode: 64)
        }
    }

    deinit { manager.shutdown() }

    /// The PID directory checked the way the agent checks it, changing nothing: text, or JSON.
    public static func status(_ settings: SettingsResolver, json: Bool) throws -> String {
        let report = DirectoryReport.read(try settings.vaultFuse())
        guard json else { return report.text }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }

    /// Adopts what is ours, removes stale PID files and mounts nobody serves; never kills.
    public func cleanup() async -> String {
        let report = await manager.recover()
        return "adopted=\(report.loaded) cleaned=\(report.cleaned)"
    }

    public func mount(target: String, path: String, environment: [String: String]) async throws(CommandError) -> String
    {
        do {
            switch try await manager.spawn(targetID: target, mountPath: path, environment: environment) {
            case .started(let pid): return ReplyText.s3Mounted(path) + " (pid \(pid))"
            case .alreadyRunning(let pid): return ReplyText.alreadyMounted(path) + " (pid \(pid))"
            }
        } catch {
            throw CommandError("error [\(error.code.rawValue)]: \(error.message)", logTail: error.logTail)
        }
    }

    public func unmount(target: String, lazy: Bool) async throws(CommandError) -> String {
        do {
            switch try await manager.kill(targetID: target, lazyIfBusy: lazy) {
            case .stopped(let pid, let path): return ReplyText.unmounted(path) + " (pid \(pid))"
            case .notRunning: return "Target not mounted"
            }
        } catch {
            throw CommandError("error [\(error.code.rawValue)]: \(error.message)")
        }
    }
}

/// A command's failure: what to print and the exit status (3: another agent holds the PID directory; 64: an
/// invalid setting; 1: the operation failed).
public struct CommandError: Error, CustomStringConvertible {
    public let message: String
    public let logTail: String?
    public let exitCode: Int32

    public init(_ message: String, logTail: String? = nil, exitCode: Int32 = 1) {
        self.message = message
        self.logTail = logTail
        self.exitCode = exitCode
    }

    public var description: String { message }
}
