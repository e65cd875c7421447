import FoundationEssentials
import Glibc
import LinuxSupport

/// Crash injection for the chaos suite: with `DMS_FAILPOINT=<name>` in the agent's environment, the
/// agent SIGKILLs itself when it reaches that point. Unset (always, in production) it costs one load.
public enum Failpoint {
    static let armed: String? = ProcessInfo.processInfo.environment["DMS_FAILPOINT"]

    /// before-spawn, after-spawn (before the PID file), after-pidfile (before readiness and reply),
    /// after-reply (before the ack).
    public static func hit(_ name: String) {
        guard let armed, armed == name else { return }
        kill(getpid(), SIGKILL)
    }
}
