import DMSWire
import VaultFuse

/// Directories below the configured mount bases.
public struct MountBaseDirectories: MountDirectories {
    public let bases: [String]
    public init(bases: [String]) { self.bases = bases }

    public func prepare(_ path: String) throws(VaultFuseError) {
        try MountPathPolicy.prepareDirectory(path, base: MountPathPolicy.normalize(path, bases: bases).base)
    }

    public func removeIfEmpty(_ path: String) { MountPathPolicy.removeIfEmpty(path) }
}
