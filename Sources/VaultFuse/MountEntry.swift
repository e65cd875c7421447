import CLinuxProcess
import FoundationEssentials
import Glibc
import LinuxSupport

/// One line of `/proc/self/mountinfo`.
public struct MountEntry: Sendable, Equatable {
    public var mountPoint: String
    public var fsType: String
    public var source: String
    /// mountinfo's optional fields: propagation (`shared:N`, `master:N`, `unbindable`); none = private.
    public var propagation: [String] = []

    public var isFUSE: Bool { fsType == "fuse" || fsType.hasPrefix("fuse.") || fsType == "fuseblk" }
}
