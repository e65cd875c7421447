package import VaultFuse

extension S3VaultFuseManager: TargetManaging {
    package func mountedPID(targetID: String, at path: String) -> Int32? {
        guard let pid = trackedPID(targetID: targetID), trackedMountPath(targetID: targetID) == path,
            MountTable.hasFUSEMount(at: path)
        else { return nil }
        return pid
    }

    package func stop(targetID: String, mountPath: String) async throws(VaultFuseError) -> StopOutcome {
        try await stop(targetID: targetID, mountPath: mountPath, lazyIfBusy: false)
    }
}
