/// Whether the requester still waits for its reply.
package protocol RequesterChecking: Sendable {
    func isGone(replyTo: String) async -> Bool
}
