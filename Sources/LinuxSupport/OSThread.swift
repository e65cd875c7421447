#if canImport(Glibc)
    import Glibc
#endif

/// Detached POSIX threads for work that blocks (syscalls, C libraries that own a socket), so it never runs
/// on Swift's cooperative pool. A thin layer over pthreads: Foundation's `Thread` would pull in
/// libFoundation and ICU, a quarter of the agent's resident memory.
package enum OSThread {
    private final class Box {
        let name: String
        let body: () -> Void
        init(_ name: String, _ body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Starts `body` on a new detached thread. `name` (≤ 15 bytes shown) appears in `ps -L` and `top -H`.
    package static func detach(name: String, stackSize: Int = 512 * 1024, _ body: @escaping @Sendable () -> Void) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        pthread_attr_setstacksize(&attributes, max(stackSize, 64 * 1024))
        let context = Unmanaged.passRetained(Box(name, body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, &attributes,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                // pthread_setname_np needs _GNU_SOURCE; the comm file of the thread does the same.
                let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
                if fd >= 0 {
                    let bytes = Array(box.name.utf8.prefix(15))
                    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                    close(fd)
                }
                box.body()
                return nil
            }, context)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(context).release()
            fatalError("pthread_create failed: \(rc)")
        }
    }
}
