package import VaultFuse

/// Directories below the configured mount bases.
package struct MountBaseDirectories: MountDirectories {
    package let bases: [String]
    package init(bases: [String]) { self.bases = bases }

    package func prepare(_ path: String) throws(VaultFuseError) {
        try MountPathPolicy.prepareDirectory(path, base: MountPathPolicy.normalize(path, bases: bases).base)
    }

    package func removeIfEmpty(_ path: String) { MountPathPolicy.removeIfEmpty(path) }
}
