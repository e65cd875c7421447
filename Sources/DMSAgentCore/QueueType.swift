import DMSWire

public enum QueueType: String, Sendable, CaseIterable {
    case classic, quorum
}
