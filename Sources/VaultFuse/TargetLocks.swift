import LinuxSupport
import Synchronization

/// One FIFO lock per key: operations on one target run one at a time in arrival order; different
/// targets never wait for each other.
public final class KeyedLocks: Sendable {
    private struct Entry {
        var held = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    public func withLock<T: Sendable>(_ key: String, _ body: () async throws -> T) async rethrows -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    private func acquire(_ key: String) async {
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
