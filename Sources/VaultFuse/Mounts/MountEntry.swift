import CLinuxProcess
import FoundationEssentials
import Glibc

/// One line of `/proc/self/mountinfo`.
package struct MountEntry: Sendable, Equatable {
    package var mountPoint: String
    package var fsType: String
    package var source: String
    /// mountinfo's optional fields: propagation (`shared:N`, `master:N`, `unbindable`); none = private.
    package var propagation: [String] = []
    /// The file system's own options (`rw,user_id=42436,group_id=42436` for FUSE).
    package var superOptions: String = ""

    /// The `user_id=` and `group_id=` a FUSE mount was made by: the only user its server answers unless it allows
    /// others.
    package var fuseOwner: (uid: UInt32, gid: UInt32)? {
        var uid: UInt32?
        var gid: UInt32?
        for option in superOptions.split(separator: ",") {
            if option.hasPrefix("user_id=") { uid = UInt32(option.dropFirst(8)) }
            if option.hasPrefix("group_id=") { gid = UInt32(option.dropFirst(9)) }
        }
        guard let uid, let gid else { return nil }
        return (uid, gid)
    }

    package var isFUSE: Bool { fsType == "fuse" || fsType.hasPrefix("fuse.") || fsType == "fuseblk" }
}
