import DMSWire

/// The Barbican secret of an S3 target.
public protocol SecretFetching: Sendable {
    func fetchPayload(secretRef: String, token: String) async throws -> [String: JSONValue]
}
