import FoundationEssentials
import Glibc

/// Crash injection for the chaos suite: with `DMS_FAILPOINT=<name>` in the agent's environment, the
/// agent SIGKILLs itself when it reaches that point. Unset (always, in production) it costs one load.
package enum Failpoint {
    static let armed: String? = ProcessInfo.processInfo.environment["DMS_FAILPOINT"]

    /// The agent's: after-journal (before the ack), after-start (the effect begins), before-spawn, after-spawn (before
    /// the PID file), after-pidfile (before readiness and reply), after-reply-recorded (before its publish),
    /// after-reply (confirmed, before the job is marked answered); kill-on-target:<id> (any job of that target).
    /// `name` is built only when a failpoint is armed: a job's `kill-on-target:<id>` costs nothing in production.
    package static func hit(_ name: @autoclosure () -> String) {
        guard let armed, armed == name() else { return }
        kill(getpid(), SIGKILL)
    }
}
