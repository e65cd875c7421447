/// The reply's `status`, the one key the original client branches on.
public enum ReplyStatus: String, Codable, Sendable, CaseIterable {
    case success, error
}
