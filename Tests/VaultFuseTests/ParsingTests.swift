import Foundation
import TestSupport
import Testing

@testable import VaultFuse

struct MountInfoParsingTests {
    @Test func parsesEscapedMountPointsAndOptionalFields() {
        let text = """
            36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - fuse.s3fs s3fs rw,user_id=42436,group_id=42436
            37 35 98:0 / /plain rw - ext4 /dev/vda rw
            """
        let entries = MountTable.parse(Array(text.utf8))
        #expect(
            entries == [
                MountEntry(
                    mountPoint: "/mnt/with space", fsType: "fuse.s3fs", source: "s3fs", propagation: ["master:1"],
                    superOptions: "rw,user_id=42436,group_id=42436"),
                MountEntry(mountPoint: "/plain", fsType: "ext4", source: "/dev/vda", superOptions: "rw"),
            ])
        #expect(entries[0].isFUSE && !entries[1].isFUSE)
        #expect(entries[0].fuseOwner?.uid == 42436 && entries[0].fuseOwner?.gid == 42436, "who the server answers")
        #expect(entries[1].fuseOwner == nil)
        #expect(entries[1].propagation.isEmpty, "no optional field: private")
    }

    /// fuse-mountinfo's crasher: a "-" field before field 6 trapped on `fields[6..<dash]`.
    @Test func aSeparatorBeforeTheSixthFieldIsAMalformedLine() {
        let text = "22 27 - / /proc rw,relatime x y z w\n37 35 98:0 / /plain rw - ext4 /dev/vda rw\n"
        #expect(
            MountTable.parse(Array(text.utf8)) == [
                MountEntry(mountPoint: "/plain", fsType: "ext4", source: "/dev/vda", superOptions: "rw")
            ])
    }

    @Test func theMountHoldingAPathIsTheLongestPrefix() {
        let text = """
            20 1 0:1 / / rw shared:1 - ext4 /dev/vda rw
            21 20 0:2 / /var/lib rw - tmpfs tmpfs rw
            22 21 0:3 / /var/lib/trilio rw shared:7 - tmpfs tmpfs rw
            """
        let entries = MountTable.parse(Array(text.utf8))
        #expect(MountTable.containing("/var/lib/trilio/triliovault-mounts", in: entries)?.propagation == ["shared:7"])
        #expect(MountTable.containing("/var/lib/triliox", in: entries)?.mountPoint == "/var/lib")
        #expect(MountTable.containing("/etc", in: entries)?.mountPoint == "/")
    }

    @Test(arguments: ["abc", "A-1", "x.y_z", String(repeating: "a", count: 128)])
    func validTargetIDs(id: String) throws { try TargetID.validate(id) }

    @Test func normalizesPathsBelowTheBase() throws {
        #expect(try MountPathPolicy.normalize("/base//a/b/", base: "/base") == "/base/a/b")
        #expect(throws: VaultFuseError.self) { try MountPathPolicy.normalize("/basement/a", base: "/base") }
    }
}

@Suite(.onTheBlockingPool) struct MountLookupTests {
    @Test func escapesLikeMountinfo() {
        #expect(MountTable.escape("/a b\\c") == Array("/a\\040b\\134c".utf8))
    }

    @Test func findsARealMountByItsPath() {
        #expect(MountTable.mount(at: "/proc")?.fsType == "proc")
        #expect(MountTable.mount(at: "/proc/nonexistent-mount") == nil)
    }

    /// statx answers before the table is read: a mount root, a plain directory, a path it cannot answer for.
    @Test func statxTellsAMountRoot() {
        #expect(MountTable.isMountRoot("/proc") == true)
        #expect(MountTable.isMountRoot("/proc/1") == false)
        #expect(MountTable.isMountRoot("/nonexistent-\(getpid())") == nil)
    }

    /// statmount answers for the one mount at a path; where it cannot (before Linux 6.8), the table does.
    @Test func statmountTellsAFUSEMountRootFromAnyOther() {
        #expect(MountTable.kernelSaysFUSEMountRoot("/proc") == (Self.kernelHasStatmount ? false : nil))
        #expect(MountTable.kernelSaysFUSEMountRoot("/proc/1") == false, "not a mount root: statx alone says so")
        #expect(MountTable.kernelSaysFUSEMountRoot("/nonexistent-\(getpid())") == nil)
        #expect(!MountTable.hasFUSEMount(at: "/proc") && !MountTable.hasFUSEMount(at: "/nonexistent-\(getpid())"))
    }

    /// A FUSE mount (bindfs) is told by statmount, and agrees with the table; a path to it through a symlink is left
    /// to the table, which does not know it by that name.
    @Test(.needsFUSE) func statmountAgreesWithTheTableOnAFUSEMount() throws {
        let root = NSTemporaryDirectory() + "dms-statmount-\(getpid())"
        try FileManager.default.createDirectory(atPath: root + "/source", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/real/target", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: root + "/real")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let target = root + "/real/target"
        #expect(!MountTable.hasFUSEMount(at: target))
        try #require(Proc.shell("bindfs '\(root)/source' '\(target)'").status == 0)
        defer { umount2(target, 0) }
        #expect(MountTable.kernelSaysFUSEMountRoot(target) == (Self.kernelHasStatmount ? true : nil))
        #expect(MountTable.hasFUSEMount(at: target) && MountTable.fuseMount(at: target)?.fsType == "fuse")
        #expect(MountTable.kernelSaysFUSEMountRoot(root + "/link/target") == nil, "its mount point is another name")
        #expect(
            MountTable.hasFUSEMount(at: root + "/link/target")
                == (MountTable.fuseMount(at: root + "/link/target") != nil))
        umount2(target, 0)
        #expect(MountTable.kernelSaysFUSEMountRoot(target) == false && !MountTable.hasFUSEMount(at: target))
    }

    /// statmount(2) came with Linux 6.8.
    static let kernelHasStatmount: Bool = {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        return numbers.count == 2 && (numbers[0], numbers[1]) >= (6, 8)
    }()

    /// A bind mount of a directory of the same file system has the same device as its parent: it is still found.
    @Test func findsABindMountOfTheSameFileSystem() throws {
        let root = NSTemporaryDirectory() + "dms-bind-\(getpid())"
        try FileManager.default.createDirectory(atPath: root + "/source", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/target", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(MountTable.mount(at: root + "/target") == nil)
        try #require(Proc.shell("mount --bind '\(root)/source' '\(root)/target'").status == 0)
        defer { umount2(root + "/target", 0) }
        #expect(MountTable.mount(at: root + "/target") != nil)
        #expect(MountTable.fuseMount(at: root + "/target") == nil, "a bind mount is not a FUSE mount")
        #expect(MountTable.kernelSaysFUSEMountRoot(root + "/target") == (Self.kernelHasStatmount ? false : nil))
        #expect(!MountTable.hasFUSEMount(at: root + "/target"))
    }
}

struct PIDDirectoryDurabilityTests {
    /// On tmpfs a PID file is written without fsync (a reboot empties it anyway); anywhere else it is fsynced.
    @Test func onlyAPIDDirectoryOffTmpfsIsFsynced() throws {
        #expect(!PIDDirectory(path: "/dev/shm").durable, "/dev/shm is tmpfs")
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path
        let onTmpfs = Proc.shell("stat -f -c %T '\(here)'").output.hasPrefix("tmpfs")
        #expect(PIDDirectory(path: here).durable == !onTmpfs)
        #expect(PIDDirectory(path: "/nonexistent-\(getpid())").durable, "unknown: durable")
        // Either way the file is written whole.
        let dir = "/dev/shm/dms-pid-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try PIDDirectory(path: dir).file(for: "t").write(pid: 4242)
        #expect(try String(contentsOfFile: dir + "/t.pid", encoding: .utf8) == "4242\n")
    }
}
