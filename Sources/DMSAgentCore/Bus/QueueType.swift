package enum QueueType: String, Sendable, CaseIterable {
    case classic, quorum
}
