import CLinuxProcess
import FoundationEssentials
import Glibc
import LinuxSupport
import Synchronization

final class CallbackTable: Sendable {
    let entries = Locked<[UInt64: (handle: ProcessHandle, callback: ExitWatcher.Callback)]>([:])
}
