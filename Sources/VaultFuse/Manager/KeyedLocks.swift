import LinuxSupport

/// One FIFO lock per key: operations on one target run one at a time in arrival order; different
/// targets never wait for each other.
package final class KeyedLocks: Sendable {
    private struct Entry {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let entries = Locked<[String: Entry]>([:])

    package init() {}

    package func withLock<T: Sendable>(_ key: String, _ body: () async throws -> T) async rethrows -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    /// Runs `body` holding the key's lock when nobody holds or waits for it; nil (and `body` not run) otherwise.
    /// Never suspends: for a sweep over thousands of keys that are almost never contended (recovery at start).
    package func withLockIfFree<T>(_ key: String, _ body: () throws -> T) rethrows -> T? {
        guard tryAcquire(key) else { return nil }
        defer { release(key) }
        return try body()
    }

    /// Takes the key's lock if nobody holds or waits for it.
    private func tryAcquire(_ key: String) -> Bool {
        entries.withLock { table -> Bool in
            guard table[key] == nil else { return false }
            table[key] = Entry(held: true)
            return true
        }
    }

    private func acquire(_ key: String) async {
        // The common case, a free lock, without suspending (a suspension is a thread hop on the blocking pool).
        if tryAcquire(key) { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let granted = entries.withLock { table -> Bool in
                var entry = table[key] ?? Entry()
                if !entry.held {
                    entry.held = true
                    table[key] = entry
                    return true
                }
                entry.waiters.append(continuation)
                table[key] = entry
                return false
            }
            if granted { continuation.resume() }
        }
    }

    private func release(_ key: String) {
        let next = entries.withLock { table -> CheckedContinuation<Void, Never>? in
            guard var entry = table[key] else { return nil }
            if entry.waiters.isEmpty {
                table[key] = nil
                return nil
            }
            let next = entry.waiters.removeFirst()
            table[key] = entry
            return next
        }
        next?.resume()
    }
}
