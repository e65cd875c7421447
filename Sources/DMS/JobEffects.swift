import FoundationEssentials
import LinuxSupport
import VaultFuse

// The effects a job may have, as small protocols the executor is given: the real ones below, in-memory
// fakes in the unit tests.

/// S3 targets: one s3vaultfuse per target.
public protocol TargetManaging: Sendable {
    /// The normalized mount path, or why the id or path is refused.
    func validate(targetID: String, mountPath: String) throws(VaultFuseError) -> String
    /// The PID when this target is tracked, at this path, and its FUSE mount is in place.
    func mountedPID(targetID: String, at path: String) -> Int32?
    func spawn(targetID: String, mountPath: String, environment: [String: String]) async throws(VaultFuseError)
        -> SpawnOutcome
    /// Unmount, wait, SIGTERM, SIGKILL: the manager's stop sequence.
    func stop(targetID: String) async throws(VaultFuseError) -> KillOutcome
    /// Clears a dead FUSE mount (ENOTCONN) left at the path, if any.
    func clearStaleMount(at path: String) async throws(VaultFuseError)
    func stats() async -> ManagerStats
}

/// Mount directories below the mount bases.
public protocol MountDirectories: Sendable {
    func prepare(_ path: String) throws(VaultFuseError)
    /// rmdir(2) of the path only: removes it when it is an empty directory and not a mount point.
    func removeIfEmpty(_ path: String)
}

/// The Barbican secret of an S3 target.
public protocol SecretFetching: Sendable {
    func fetchPayload(secretRef: String, token: String) async throws -> [String: JSONValue]
}

/// NFS targets: mount(8) and umount(8); the mount table is their record.
public protocol NFSMounting: Sendable {
    /// The file system type mounted at `path`, if any.
    func fsType(at path: String) -> String?
    func mount(export: String, path: String, options: String) async -> (status: Int32, output: String)
    func unmount(path: String) async -> (status: Int32, output: String)
}

/// Whether the requester still waits for its reply.
public protocol RequesterChecking: Sendable {
    func isGone(replyTo: String) async -> Bool
}

// MARK: The real effects

extension S3VaultFuseManager: TargetManaging {
    public func mountedPID(targetID: String, at path: String) -> Int32? {
        guard let pid = trackedPID(targetID: targetID), trackedMountPath(targetID: targetID) == path,
            MountTable.fuseMount(at: path) != nil
        else { return nil }
        return pid
    }

    public func stop(targetID: String) async throws(VaultFuseError) -> KillOutcome {
        try await kill(targetID: targetID, lazyIfBusy: false)
    }

    public func clearStaleMount(at path: String) async throws(VaultFuseError) {
        _ = try await cleanStaleMount(at: path)
    }
}

/// Directories below the configured mount bases.
public struct MountBaseDirectories: MountDirectories {
    public let bases: [String]
    public init(bases: [String]) { self.bases = bases }

    public func prepare(_ path: String) throws(VaultFuseError) {
        try MountPathPolicy.prepareDirectory(path, base: MountPathPolicy.normalize(path, bases: bases).base)
    }

    public func removeIfEmpty(_ path: String) { MountPathPolicy.removeIfEmpty(path) }
}

extension BarbicanClient: SecretFetching {}

/// mount(8) and umount(8) on the blocking pool (a hung NFS server must not hold a cooperative thread); no thread hop
/// when the job already runs there.
public struct SystemNFS: NFSMounting {
    let mounter: NFSMounter
    public init(_ mounter: NFSMounter) { self.mounter = mounter }

    public func fsType(at path: String) -> String? { MountTable.mount(at: path)?.fsType }

    public func mount(export: String, path: String, options: String) async -> (status: Int32, output: String) {
        let mounter = self.mounter
        return await OSThread.blocking { mounter.mount(export: export, path: path, options: options) }
    }

    public func unmount(path: String) async -> (status: Int32, output: String) {
        let mounter = self.mounter
        return await OSThread.blocking { mounter.unmount(path: path) }
    }
}
