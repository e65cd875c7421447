import DMSWire

/// Whether the requester still waits for its reply.
public protocol RequesterChecking: Sendable {
    func isGone(replyTo: String) async -> Bool
}
