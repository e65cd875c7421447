/// Who waits for which reply, and the replies nobody waits for yet: the client's bookkeeping as a value, so every
/// transition is tested without a broker. `Waiter` is whatever resumes a caller (a continuation in the client).
///
/// Bounded: a reply leaves when it is taken; a reply whose waiters gave up is dropped on arrival (the last
/// `capacity` given-up ids are remembered); a reply nobody waited for is kept until taken, the oldest of more than
/// `capacity` dropped first.
package struct ReplyTable<Waiter> {
    package typealias Token = UInt64

    /// What `wait` found.
    package enum Wait {
        /// The reply had arrived: it is the caller's now.
        case arrived([UInt8])
        /// The caller is registered under its token.
        case waiting
        /// The client is shut down.
        case closed
    }

    package let capacity: Int
    private var waiters: [String: [(token: Token, waiter: Waiter)]] = [:]
    private var unclaimed: [String: [UInt8]] = [:]
    private var unclaimedOrder = FIFOSet()
    private var givenUp = FIFOSet()
    private(set) var isClosed = false

    package init(capacity: Int = 1024) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    package var waitingCount: Int { waiters.values.reduce(0) { $0 + $1.count } }
    package var unclaimedCount: Int { unclaimed.count }

    /// A reply arrived: every waiter for its id is returned to be resumed with it; with none, it is kept (or
    /// dropped when its waiters gave up).
    package mutating func arrived(_ id: String, _ body: [UInt8]) -> [Waiter] {
        if let registered = waiters.removeValue(forKey: id) { return registered.map(\.waiter) }
        guard !isClosed, !givenUp.remove(id) else { return [] }
        if unclaimed.updateValue(body, forKey: id) == nil {
            unclaimedOrder.append(id)
            if unclaimedOrder.count > capacity, let oldest = unclaimedOrder.removeFirst() {
                unclaimed[oldest] = nil
            }
        }
        return []
    }

    /// A caller wants the reply to `id`: the reply itself if it came, else the waiter is registered.
    package mutating func wait(_ id: String, token: Token, _ waiter: Waiter) -> Wait {
        if isClosed { return .closed }
        if let body = unclaimed.removeValue(forKey: id) {
            _ = unclaimedOrder.remove(id)
            return .arrived(body)
        }
        givenUp.remove(id)
        waiters[id, default: []].append((token, waiter))
        return .waiting
    }

    /// The caller under `token` stops waiting (timeout, cancellation): its waiter, if still registered, to resume.
    /// When it was the last one for `id`, a reply arriving later is dropped.
    package mutating func giveUp(_ id: String, token: Token) -> Waiter? {
        guard var registered = waiters[id], let index = registered.firstIndex(where: { $0.token == token }) else {
            return nil
        }
        let waiter = registered.remove(at: index).waiter
        if registered.isEmpty {
            waiters[id] = nil
            givenUp.append(id)
            if givenUp.count > capacity { _ = givenUp.removeFirst() }
        } else {
            waiters[id] = registered
        }
        return waiter
    }

    /// Shut down: every waiter, to be refused; nothing is kept.
    package mutating func close() -> [Waiter] {
        isClosed = true
        defer {
            waiters = [:]
            unclaimed = [:]
            unclaimedOrder = FIFOSet()
            givenUp = FIFOSet()
        }
        return waiters.values.flatMap { $0.map(\.waiter) }
    }
}

/// Ids in insertion order with removal from anywhere: an array with a moving head and a membership set, compacted
/// when half of it is dead.
private struct FIFOSet {
    private var items: [String?] = []
    private var head = 0
    private var members: [String: Int] = [:]

    var count: Int { members.count }

    mutating func append(_ id: String) {
        guard members[id] == nil else { return }
        members[id] = items.count
        items.append(id)
    }

    @discardableResult
    mutating func remove(_ id: String) -> Bool {
        guard let index = members.removeValue(forKey: id) else { return false }
        items[index] = nil
        compactIfSparse()
        return true
    }

    mutating func removeFirst() -> String? {
        while head < items.count {
            let slot = items[head]
            head += 1
            if let id = slot {
                members[id] = nil
                compactIfSparse()
                return id
            }
        }
        return nil
    }

    private mutating func compactIfSparse() {
        guard items.count > 64, members.count * 2 < items.count else { return }
        items = items[head...].filter { $0 != nil }
        head = 0
        for (index, id) in items.enumerated() { members[id!] = index }
    }
}
