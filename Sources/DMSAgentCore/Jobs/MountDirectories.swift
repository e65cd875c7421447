package import VaultFuse

/// Mount directories below the mount bases.
package protocol MountDirectories: Sendable {
    func prepare(_ path: String) throws(VaultFuseError)
    /// rmdir(2) of the path only: removes it when it is an empty directory and not a mount point.
    func removeIfEmpty(_ path: String)
}
