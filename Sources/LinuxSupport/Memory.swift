import CLinuxProcess
import Glibc

/// The process's allocator.
package enum Memory {
    /// Caps glibc's malloc arenas: every blocking wait runs on a short-lived thread, and without a cap glibc gives
    /// each its own arena and the resident size of a long-running process creeps up.
    package static func limitMallocArenas(_ arenas: Int32) { _ = dms_limit_malloc_arenas(arenas) }
}
