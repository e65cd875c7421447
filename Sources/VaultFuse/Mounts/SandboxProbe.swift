import CLinuxProcess
import Glibc
import LinuxSupport

/// What the service's sandbox refuses that a FUSE mount or unmount needs, found by harmless probes, so that a failed
/// job and `doctor` name the systemd directive instead of a bare "Operation not permitted". Each directive binds the
/// fuses too: they live in the agent's control group and inherit its seccomp filter, bounding set and flags.
package enum SandboxProbe {
    package struct Refusal: Sendable, Equatable, CustomStringConvertible {
        /// What is refused, in the words of the call.
        package let what: String
        /// The directive that likely refuses it, and what it needs.
        package let directive: String
        package var description: String { "\(what): the service's sandbox refuses it (check \(directive))" }

        package init(what: String, directive: String) {
            self.what = what
            self.directive = directive
        }
    }

    /// The process's own restrictions, from /proc/self/status.
    package struct Restrictions: Sendable, Equatable {
        package var seccompFilter = false
        package var noNewPrivileges = false
        package var effectiveCapabilities: UInt64 = 0
        package var boundingCapabilities: UInt64 = 0

        package static let capSysAdmin: UInt64 = 1 << 21
        package static let capKill: UInt64 = 1 << 5

        /// Parses the `Seccomp:`, `NoNewPrivs:`, `CapEff:` and `CapBnd:` lines of a /proc/<pid>/status text.
        package init(status text: String) {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let value = parts[1].filter { $0 != " " && $0 != "\t" }
                switch parts[0] {
                case "Seccomp": seccompFilter = value == "2"
                case "NoNewPrivs": noNewPrivileges = value == "1"
                case "CapEff": effectiveCapabilities = UInt64(value, radix: 16) ?? 0
                case "CapBnd": boundingCapabilities = UInt64(value, radix: 16) ?? 0
                default: break
                }
            }
        }

        package init() {}

        package static func current() -> Restrictions {
            guard case .success(let bytes) = FileContents.read("/proc/self/status") else { return Restrictions() }
            return Restrictions(status: String(decoding: bytes, as: UTF8.self))
        }
    }

    /// What refuses a mount or an unmount here. Empty when nothing does (then an EPERM is the kernel's own answer,
    /// or a FUSE server's). Under a seccomp filter it costs a fork: call it on a failure path, or from `doctor`.
    package static func refusals(
        restrictions: Restrictions = .current(), userID: UInt32 = getuid(),
        umountErrno: () -> Int32 = umountErrnoInChild
    ) -> [Refusal] {
        var found: [Refusal] = []
        // Without a seccomp filter nothing but the kernel answers a mount call: no child to fork (a fork copies every
        // descriptor, the PID directory's lock among them, for as long as the child lives).
        let answer = restrictions.seccompFilter ? umountErrno() : ENOENT
        if answer == EPERM || answer == -SIGSYS { found.append(.mountCalls(killed: answer == -SIGSYS)) }
        if userID == 0, restrictions.effectiveCapabilities & Restrictions.capSysAdmin == 0 {
            found.append(.capSysAdmin(root: true))
        }
        if userID != 0, restrictions.noNewPrivileges { found.append(.noNewPrivileges) }
        if userID != 0, restrictions.boundingCapabilities & Restrictions.capSysAdmin == 0 {
            found.append(.capSysAdmin(root: false))
        }
        let fuse = open("/dev/fuse", O_RDWR | O_CLOEXEC)
        if fuse >= 0 {
            close(fuse)
        } else if errno == EPERM {
            found.append(.fuseDevice)
        }
        let inet = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if inet >= 0 {
            close(inet)
        } else if errno == EAFNOSUPPORT {
            found.append(.inetSockets)
        }
        return found
    }

    /// What umount2(2) of a missing path answers in a forked child: ENOENT when mount calls reach the kernel, EPERM
    /// when a filter refuses them, -SIGSYS when it kills for them.
    package static func umountErrnoInChild() -> Int32 { dms_probe_umount_errno() }

    /// `; <refusal>; …` to append to an error message, or nothing.
    package static func explanation() -> String {
        refusals().map { "; \($0)" }.joined()
    }
}

/// The words for each refusal, shared by the probes of the process and the reading of the unit (doctor), so a job's
/// error and doctor name a directive the same way.
extension SandboxProbe.Refusal {
    package static func mountCalls(killed: Bool = false) -> Self {
        Self(
            what: "mount(2)/umount(2)",
            directive: "SystemCallFilter=: FUSE mounts need @mount"
                + (killed ? ", and SystemCallErrorNumber=EPERM so a refusal is an error, not a kill" : ""))
    }

    package static func capSysAdmin(root: Bool) -> Self {
        root
            ? Self(what: "mount(2) as root", directive: "CapabilityBoundingSet=: mounts need CAP_SYS_ADMIN")
            : Self(
                what: "the setuid fusermount3 of an unprivileged agent",
                directive: "CapabilityBoundingSet=: fusermount3 needs CAP_SYS_ADMIN in it")
    }

    package static let noNewPrivileges = Self(
        what: "the setuid fusermount3 of an unprivileged agent",
        directive: "NoNewPrivileges=: it must be off for User= other than root")

    package static let fuseDevice = Self(what: "open /dev/fuse", directive: "DeviceAllow=: it needs /dev/fuse rw")

    package static let inetSockets = Self(
        what: "an AF_INET socket (the broker, Barbican, the fuse's S3 traffic)",
        directive: "RestrictAddressFamilies=: it needs AF_INET AF_INET6")
}
