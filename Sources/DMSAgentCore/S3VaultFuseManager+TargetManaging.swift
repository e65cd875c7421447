import DMSWire
import VaultFuse

extension S3VaultFuseManager: TargetManaging {
    public func mountedPID(targetID: String, at path: String) -> Int32? {
        guard let pid = trackedPID(targetID: targetID), trackedMountPath(targetID: targetID) == path,
            MountTable.hasFUSEMount(at: path)
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
