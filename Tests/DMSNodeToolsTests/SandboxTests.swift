import DMSNodeTools
import Foundation
import Glibc
import TestSupport
import Testing
import VaultFuse

/// What names the directive behind a refused mount: the unit's directives as `systemctl show` prints them, and the
/// process's own restrictions. Hermetic; scripts/check-systemd.sh proves both under a real systemd.
@Suite struct SandboxTests {
    /// The shipped unit's directives, abridged as systemd 252 prints them.
    static let shipped = """
        SystemCallFilter=_llseek accept accept4 access chdir clone clone3 execve exit fsmount mount move_mount \
        open_tree umount2 write
        CapabilityBoundingSet=cap_dac_override cap_dac_read_search cap_fowner cap_kill cap_setgid cap_setuid \
        cap_sys_ptrace cap_sys_admin
        NoNewPrivileges=yes
        User=
        DevicePolicy=closed
        DeviceAllow=/dev/fuse rw
        RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
        LoadState=loaded
        """

    @Test func theShippedUnitRefusesNothingAMountNeeds() {
        #expect(UnitSandbox(show: Self.shipped).refusals.isEmpty)
    }

    @Test func aFilterWithoutTheMountCallsIsNamed() {
        let withoutMount = Self.shipped.replacingOccurrences(of: " mount move_mount", with: " move_mount")
            .replacingOccurrences(of: " umount2", with: "")
        #expect(
            UnitSandbox(show: withoutMount).refusals.map(\.directive).contains { $0.hasPrefix("SystemCallFilter=") })
        let denyList = Self.shipped.replacingOccurrences(
            of: "SystemCallFilter=_llseek", with: "SystemCallFilter=~_llseek")
        #expect(UnitSandbox(show: denyList).refusals.map(\.directive).contains { $0.hasPrefix("SystemCallFilter=") })
    }

    @Test func eachDirectiveThatRefusesIsNamed() {
        func directives(_ text: String) -> [String] {
            UnitSandbox(show: text).refusals.map { String($0.directive.prefix(while: { $0 != ":" })) }
        }
        #expect(
            directives(Self.shipped.replacingOccurrences(of: " cap_sys_admin", with: "")) == ["CapabilityBoundingSet="])
        #expect(directives(Self.shipped.replacingOccurrences(of: "User=", with: "User=nova")) == ["NoNewPrivileges="])
        #expect(
            directives(Self.shipped.replacingOccurrences(of: "DeviceAllow=/dev/fuse rw", with: "DeviceAllow=")) == [
                "DeviceAllow="
            ])
        #expect(
            directives(Self.shipped.replacingOccurrences(of: "AF_INET AF_INET6 AF_UNIX", with: "AF_UNIX")) == [
                "RestrictAddressFamilies="
            ])
        // Nothing set at all: an unsandboxed unit refuses nothing.
        #expect(directives("LoadState=loaded\nUser=\nDevicePolicy=auto\n").isEmpty)
    }

    @Test func restrictionsAreReadFromProcStatus() {
        let status = """
            Name:\tdms-agent
            NoNewPrivs:\t1
            Seccomp:\t2
            CapEff:\t0000000000000020
            CapBnd:\t00000000002000e0
            """
        let r = SandboxProbe.Restrictions(status: status)
        #expect(r.seccompFilter && r.noNewPrivileges)
        #expect(r.effectiveCapabilities == SandboxProbe.Restrictions.capKill)
        #expect(r.boundingCapabilities & SandboxProbe.Restrictions.capSysAdmin != 0)
    }

    @Test func aSeccompRefusalOfTheMountCallsIsNamed() {
        var filtered = SandboxProbe.Restrictions()
        filtered.seccompFilter = true
        filtered.effectiveCapabilities = SandboxProbe.Restrictions.capSysAdmin
        // EPERM under a filter, or the probe killed by SIGSYS: the filter. ENOENT: the call reached the kernel.
        let refused = SandboxProbe.refusals(restrictions: filtered, userID: 0, umountErrno: { EPERM })
        #expect(refused.first?.directive.hasPrefix("SystemCallFilter=") == true)
        let killed = SandboxProbe.refusals(restrictions: filtered, userID: 0, umountErrno: { -SIGSYS })
        #expect(killed.first?.directive.contains("SystemCallErrorNumber=EPERM") == true)
        #expect(SandboxProbe.refusals(restrictions: filtered, userID: 0, umountErrno: { ENOENT }).isEmpty)
        // Root without CAP_SYS_ADMIN: the bounding set.
        let noAdmin = SandboxProbe.refusals(
            restrictions: SandboxProbe.Restrictions(), userID: 0, umountErrno: { ENOENT })
        #expect(noAdmin.map(\.directive).contains { $0.hasPrefix("CapabilityBoundingSet=") })
    }

    /// As root with /dev/fuse and no filter (scripts/test.sh): the probe's umount2 of a missing path, in a child, answers ENOENT; nothing here
    /// refuses a mount.
    @Test(.needsFUSE) func thisProcessReachesTheKernelWithMountCalls() {
        #expect(SandboxProbe.umountErrnoInChild() == ENOENT)
        #expect(SandboxProbe.refusals().isEmpty)
    }
}
