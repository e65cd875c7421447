import Glibc
import LinuxSupport
import Testing

/// The reproducer of issue 17: four pthreads increment one guarded dictionary 20,000 times each. With
/// `Synchronization.Mutex` the count is right and ThreadSanitizer still reports "Swift access race" (its futex is
/// invisible to TSan); with `Locked` the count is right and `scripts/sanitize.sh thread` reports nothing.
@Suite struct LockedTests {
    final class Box: @unchecked Sendable {
        let counts = Locked<[String: Int]>([:])
    }

    @Test func fourThreadsCountEveryIncrement() {
        let box = Box()
        let threads = 4
        let increments = 20_000
        var ids: [pthread_t] = []
        let context = Unmanaged.passRetained(box).toOpaque()
        for _ in 0..<threads {
            var thread = pthread_t()
            let rc = pthread_create(
                &thread, nil,
                { raw in
                    let box = Unmanaged<Box>.fromOpaque(raw!).takeUnretainedValue()
                    for _ in 0..<20_000 { box.counts.withLock { $0["n", default: 0] += 1 } }
                    return nil
                }, context)
            #expect(rc == 0)
            ids.append(thread)
        }
        for thread in ids { pthread_join(thread, nil) }
        Unmanaged<Box>.fromOpaque(context).release()
        #expect(box.counts.withLock { $0["n"] } == threads * increments)
    }

    @Test func aHeldLockIsNotTakenIfAvailable() {
        let lock = Locked(0)
        let inner: Int?? = lock.withLock { _ in
            // The same thread asks again while holding it: trylock fails on a default (non-recursive) mutex.
            Optional(lock.withLockIfAvailable { $0 })
        }
        #expect(inner == .some(nil))
        #expect(
            lock.withLockIfAvailable { value -> Int in
                value += 1
                return value
            } == 1)
    }
}
