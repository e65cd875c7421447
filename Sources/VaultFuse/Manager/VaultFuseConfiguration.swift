import Glibc

/// Where the manager keeps its state and how it runs s3vaultfuse.
package struct VaultFuseConfiguration: Sendable {
    /// PID files `<target_id>.pid` and the lock file. Default: `/run/dms/s3`.
    package var pidDirectory: String = "/run/dms/s3"
    /// Every mount path must lie below one of them. Default: `/var/lib/trilio/triliovault-mounts`.
    package var mountBases: [String] = ["/var/lib/trilio/triliovault-mounts"]
    /// The first mount base; setting it makes it the only one.
    package var mountBase: String {
        get { mountBases[0] }
        set { mountBases = [newValue] }
    }
    /// The FUSE program, run in the foreground with no arguments. Default: `/usr/bin/s3vaultfuse.py`.
    package var binary: String = "/usr/bin/s3vaultfuse.py"
    /// Per-target output `<target_id>.log`. Default: `/var/log/dms`.
    package var logDirectory: String = "/var/log/dms"
    /// Grace period after unmount, and again after SIGTERM, before the next step. Default: 10 s.
    package var killTimeout: Duration = .seconds(10)
    /// Readiness deadline: the mount must appear in the mount table by then. Default: 30 s.
    package var mountTimeout: Duration = .seconds(30)
    /// PATH given to s3vaultfuse.
    package var searchPath: String = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    /// A process may have started at most this long after its PID file was written. Default: 1 s.
    package var pidFileStartSlack: Duration = .seconds(1)
    /// How many PIDs `all_pids_ever_spawned` keeps. Default: 1000.
    package var spawnedPIDHistory: Int = 1000

    /// Users besides root and the agent's own whose s3vaultfuse processes (and PID files) the agent may adopt and
    /// stop: the user a replaced Python server ran as. Default: nova's uid when the user exists.
    package var adoptableUIDs: Set<UInt32> = []

    package init() {}

    /// The owners a PID file and its process may have: root, the agent's own user and the adoptable ones.
    package var allowedOwners: Set<UInt32> { adoptableUIDs.union([0, getuid()]) }

    /// Below one of the mount bases (a normalized path).
    package func isBelowMountBase(_ path: String) -> Bool { mountBases.contains { path.hasPrefix($0 + "/") } }
}
