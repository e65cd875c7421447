/// The consume channel's delivery tags not yet settled, as a value: which tags one `multiple` ack may cover and
/// which must be acked one by one. A long-running job holding the oldest tag never keeps later prefetch slots busy,
/// and a tag settled on its own (a nack, a reject, an awaited ack) is no longer outstanding at the broker, so a later
/// `multiple` ack must not pass over a tag that is still unsettled.
struct DeliveryLedger {
    /// One `multiple` ack up to `multipleUpTo` (when set), then single acks, in tag order.
    struct AckPlan: Equatable {
        var multipleUpTo: UInt64?
        var singles: [UInt64]
    }

    /// Tags in delivery order; `head` is the oldest not yet passed by the settled prefix.
    private var outstanding: [UInt64] = []
    private var head = 0
    /// Tags settled out of order, not yet passed by the settled prefix.
    private var settledAhead: Set<UInt64> = []

    /// Deliveries the broker still holds for this channel.
    var unsettled: Int { max(0, outstanding.count - head - settledAhead.count) }

    mutating func delivered(_ tag: UInt64) { outstanding.append(tag) }

    /// A tag settled on its own (nack, reject, an ack someone waits for).
    mutating func settledAlone(_ tag: UInt64) { settledAhead.insert(tag) }

    /// A batch of acks nobody waits for: the plan that settles exactly them with the fewest frames.
    mutating func acknowledge(_ tags: Set<UInt64>) -> AckPlan {
        settledAhead.formUnion(tags)
        var prefixEnd: UInt64?
        var covered: Set<UInt64> = []
        while head < outstanding.count, settledAhead.contains(outstanding[head]) {
            let tag = outstanding[head]
            settledAhead.remove(tag)
            if tags.contains(tag) {
                prefixEnd = tag
                covered.insert(tag)
            }
            head += 1
        }
        if head > 4096 {
            outstanding.removeFirst(head)
            head = 0
        }
        return AckPlan(multipleUpTo: prefixEnd, singles: tags.subtracting(covered).sorted())
    }

    /// The channel or the connection is gone: its tags mean nothing now (the broker requeues what was unsettled).
    mutating func reset() { self = DeliveryLedger() }
}
