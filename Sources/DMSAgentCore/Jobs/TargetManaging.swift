package import DMSWire
package import VaultFuse

// The effects a job may have are small protocols the executor is given: the real ones in this module, in-memory
// fakes in the unit tests.

/// S3 targets: one s3vaultfuse per target.
package protocol TargetManaging: Sendable {
    /// The normalized mount path, or why the id or path is refused.
    func validate(targetID: String, mountPath: String) throws(VaultFuseError) -> String
    /// The PID when this target is tracked, at this path, and its FUSE mount is in place.
    func mountedPID(targetID: String, at path: String) -> Int32?
    func spawn(targetID: String, mountPath: String, environment: [String: String]) async throws(VaultFuseError)
        -> SpawnOutcome
    /// Unmount, wait, SIGTERM, SIGKILL: the manager's stop sequence, when the target's process serves `mountPath`
    /// (`conflict` otherwise, and nothing is stopped).
    func stop(targetID: String, mountPath: String) async throws(VaultFuseError) -> StopOutcome
    /// For a target without a process: clears a dead FUSE mount left at the path, or unmounts a live one this agent
    /// did not start (the job asks for it). Returns what was done, for the reply.
    func clearStaleMount(at path: String, targetID: String?) async throws(VaultFuseError) -> MountClearing
    func stats() async -> NodeStats
}
