import CLinuxProcess
import Glibc
import Logging
import Synchronization

final class TrackedProcess: Sendable {
    static let starting: Int = 0
    static let running: Int = 1
    static let stopping: Int = 2

    let targetID: String
    let mountPath: String
    let handle: ProcessHandle
    let adopted: Bool
    let phase = Atomic<Int>(TrackedProcess.starting)
    let watchToken = Atomic<UInt64>(0)
    var pid: Int32 { handle.pid }

    init(targetID: String, mountPath: String, handle: ProcessHandle, adopted: Bool) {
        self.targetID = targetID
        self.mountPath = mountPath
        self.handle = handle
        self.adopted = adopted
    }
}
