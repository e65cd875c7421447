import LinuxSupport

/// Fans the manager's events out to every subscriber's stream (a slow subscriber loses its oldest events, never blocks
/// the manager) and to every observer, called on the emitting thread.
final class EventBroadcaster: Sendable {
    typealias Observer = @Sendable (ManagerEvent) -> Void

    private struct Subscribers {
        var continuations: [UInt64: AsyncStream<ManagerEvent>.Continuation] = [:]
        var observers: [UInt64: Observer] = [:]
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

    /// `observer` runs on the thread that emits (a manager thread holding a target's lock), so it must not block;
    /// it spares a consumer that only hands each event on the wake-up of a task per event.
    func observe(_ observer: @escaping Observer) -> UInt64 {
        subscribers.withLock { s in
            s.next += 1
            s.observers[s.next] = observer
            return s.next
        }
    }

    func stopObserving(_ id: UInt64) {
        _ = subscribers.withLock { $0.observers.removeValue(forKey: id) }
    }

    func emit(_ event: ManagerEvent) {
        let (streams, observers) = subscribers.withLock { (Array($0.continuations.values), Array($0.observers.values)) }
        streams.forEach { $0.yield(event) }
        observers.forEach { $0(event) }
    }

    func finish() {
        subscribers.withLock { s in
            defer {
                s.continuations = [:]
                s.observers = [:]
            }
            return Array(s.continuations.values)
        }.forEach { $0.finish() }
    }
}
