import LinuxSupport
import VaultFuse

/// mount(8) and umount(8) on the blocking pool (a hung NFS server must not hold a cooperative thread); no thread hop
/// when the job already runs there.
package struct SystemNFS: NFSMounting {
    let mounter: NFSMounter
    package init(_ mounter: NFSMounter) { self.mounter = mounter }

    package func fsType(at path: String) -> String? { MountTable.mount(at: path)?.fsType }

    package func mount(export: String, path: String, options: String) async -> (status: Int32, output: String) {
        let mounter = self.mounter
        return await OSThread.blocking { mounter.mount(export: export, path: path, options: options) }
    }

    package func unmount(path: String) async -> (status: Int32, output: String) {
        let mounter = self.mounter
        return await OSThread.blocking { mounter.unmount(path: path) }
    }
}
