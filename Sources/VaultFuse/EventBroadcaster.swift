import LinuxSupport

/// Fans the manager's events out to every subscriber's stream; a slow subscriber loses its oldest events,
/// never blocks the manager.
final class EventBroadcaster: Sendable {
    private struct Subscribers {
        var continuations: [UInt64: AsyncStream<ManagerEvent>.Continuation] = [:]
        var next: UInt64 = 0
    }

    private let subscribers = Locked(Subscribers())

    func subscribe() -> AsyncStream<ManagerEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: ManagerEvent.self, bufferingPolicy: .bufferingNewest(10_000))
        let id = subscribers.withLock { s -> UInt64 in
            s.next += 1
            s.continuations[s.next] = continuation
            return s.next
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.continuations.removeValue(forKey: id) }
        }
        return stream
    }

    func emit(_ event: ManagerEvent) {
        subscribers.withLock { Array($0.continuations.values) }.forEach { $0.yield(event) }
    }

    func finish() {
        subscribers.withLock { s in
            defer { s.continuations = [:] }
            return Array(s.continuations.values)
        }.forEach { $0.finish() }
    }
}
