import Glibc
import LinuxSupport

/// Whether a FUSE mount's server is still there. Only a dead mount may be cleared without a job asking for it.
enum MountLiveness {
    enum Verdict: Equatable, Sendable {
        /// The kernel says its server is gone (`ENOTCONN`, `ECONNABORTED`).
        case dead(String)
        /// Its server answered, or holds the connection without answering, or the answer does not prove it gone.
        case live(String)
    }

    /// A `stat` of the mount point in a child of its own with a deadline (a stopped or hung server must not hold the
    /// agent), run as the user who made the mount when that is not us: FUSE refuses other users before it asks the
    /// server, unless the mount allows them.
    static func probe(_ entry: MountEntry, deadline: Duration = .seconds(5)) -> Verdict {
        var command = ["/usr/bin/stat", "-c", "%i", "--", entry.mountPoint]
        if let owner = entry.fuseOwner, owner.uid != getuid(), getuid() == 0 {
            command =
                ["/usr/bin/setpriv", "--reuid=\(owner.uid)", "--regid=\(owner.gid)", "--clear-groups", "--"]
                + command
        }
        let result = CommandRunner.run(command[0], Array(command.dropFirst()), deadline: deadline)
        if result.succeeded { return .live("its server answers") }
        if result.status == CommandRunner.timedOut {
            return .live("its server holds the connection but does not answer within \(deadline)")
        }
        let said = result.output.split(separator: "\n").first.map(String.init) ?? "status \(result.status)"
        if said.contains("not connected") || said.contains("connection abort") {
            return .dead("its server is gone (\(said))")
        }
        return .live("not proven gone: \(said)")
    }
}
