/// What a publish must offer the tracker: its deadline and whether its caller already has an answer.
protocol ConfirmablePublish: AnyObject {
    var deadline: UInt64 { get }
    var answered: Bool { get }
}

/// Publishes on their way to the broker's confirm, as a value: the outbox (not yet sent: no connection, a blocked
/// connection), the sent ones by their confirm sequence number, and what becomes of both on a confirm, a deadline,
/// a refused channel or a lost connection. The I/O loop does the sending and the answering.
struct ConfirmTracker<Publish: ConfirmablePublish> {
    private(set) var outbox: [Publish] = []
    private(set) var unconfirmed: [(seq: UInt64, publish: Publish)] = []
    private var nextSeq: UInt64 = 1
    /// connection.blocked (a resource alarm): nothing is handed out to send.
    private(set) var blocked = false

    var isIdle: Bool { outbox.isEmpty && unconfirmed.isEmpty }

    /// The earliest deadline of anything waiting, for the loop's poll timeout.
    var nextDeadline: UInt64? { (outbox.map(\.deadline) + unconfirmed.map(\.publish.deadline)).min() }

    mutating func enqueue(_ publish: Publish) { outbox.append(publish) }

    mutating func setBlocked(_ value: Bool) { blocked = value }

    /// Takes the outbox to send, in order, unless blocked; report each with `sent`, and the rest with `unsent` if
    /// sending fails part way.
    mutating func takeOutbox() -> [Publish] {
        guard !blocked else { return [] }
        defer { outbox.removeAll() }
        return outbox
    }

    /// `publish` went out on the channel: its confirm will carry the next sequence number.
    mutating func sent(_ publish: Publish) {
        unconfirmed.append((nextSeq, publish))
        nextSeq += 1
    }

    /// Sending failed: these go back to the front of the outbox, in order.
    mutating func unsent(_ publishes: some Collection<Publish>) { outbox.insert(contentsOf: publishes, at: 0) }

    /// basic.ack / basic.nack from the broker: the publishes it settles, in order.
    mutating func confirm(upTo tag: UInt64, multiple: Bool) -> [Publish] {
        var resolved: [Publish] = []
        unconfirmed.removeAll { entry in
            guard multiple ? entry.seq <= tag : entry.seq == tag else { return false }
            resolved.append(entry.publish)
            return true
        }
        return resolved
    }

    /// Publishes past their deadline and not yet answered, to be answered with a timeout. Expired ones leave the
    /// outbox; sent ones stay, so later confirms still line up with their sequence numbers.
    mutating func expire(now: UInt64) -> [Publish] {
        var expired: [Publish] = []
        outbox.removeAll { publish in
            guard publish.deadline <= now else { return false }
            expired.append(publish)
            return true
        }
        expired += unconfirmed.map(\.publish).filter { $0.deadline <= now && !$0.answered }
        return expired
    }

    /// The broker closed the publish channel over some publishes (`refuses`): those are returned to be answered
    /// with the refusal; the others go back to the front of the outbox for the reopened channel, which numbers
    /// confirms from 1 again.
    mutating func channelClosed(refusing refuses: (Publish) -> Bool) -> [Publish] {
        var refused: [Publish] = []
        var retry: [Publish] = []
        for entry in unconfirmed {
            if refuses(entry.publish) { refused.append(entry.publish) } else { retry.append(entry.publish) }
        }
        unconfirmed.removeAll()
        nextSeq = 1
        outbox.insert(contentsOf: retry.filter { !$0.answered }, at: 0)
        return refused
    }

    /// The connection is gone: nothing was confirmed for what was sent, so it goes out again on the next one
    /// (at least once), before what was never sent. A new connection starts unblocked.
    mutating func connectionLost() {
        outbox.insert(contentsOf: unconfirmed.map(\.publish).filter { !$0.answered }, at: 0)
        unconfirmed.removeAll()
        nextSeq = 1
    }

    /// Closing: everything, to be failed.
    mutating func drain() -> [Publish] {
        defer {
            outbox.removeAll()
            unconfirmed.removeAll()
        }
        return outbox + unconfirmed.map(\.publish)
    }
}
