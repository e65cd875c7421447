package import DMSWire

/// The Barbican secret of an S3 target.
package protocol SecretFetching: Sendable {
    func fetchPayload(secretRef: String, token: String) async throws -> [String: JSONValue]
}
