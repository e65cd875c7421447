/// NFS targets: mount(8) and umount(8); the mount table is their record.
package protocol NFSMounting: Sendable {
    /// The file system type mounted at `path`, if any.
    func fsType(at path: String) -> String?
    func mount(export: String, path: String, options: String) async -> (status: Int32, output: String)
    func unmount(path: String) async -> (status: Int32, output: String)
}
