import CCurl
package import DMSWire
import FoundationEssentials
import Glibc
import LinuxSupport

/// Reads an S3 target's settings from a Barbican secret: `GET <ref>` (metadata), then `GET <ref>/payload`
/// with the metadata's default content type, both with the keystone token. Nothing read here is logged.
package struct BarbicanClient: Sendable {
    package var timeout: Duration
    /// Verify the server certificate and host name. Default: true (config key `barbican_ssl_verify`).
    package var verifyTLS: Bool
    /// CA bundle replacing the system's (config key `barbican_ca_bundle`).
    package var caBundle: String?

    package init(timeout: Duration = .seconds(30), verifyTLS: Bool = true, caBundle: String? = nil) {
        self.timeout = timeout
        self.verifyTLS = verifyTLS
        self.caBundle = caBundle
    }

    package func fetchPayload(secretRef: String, token: String) async throws -> [String: JSONValue] {
        let base = secretRef.hasSuffix("/") ? String(secretRef.dropLast()) : secretRef
        guard let metaURL = URL(string: base), let scheme = metaURL.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            let payloadURL = URL(string: base + "/payload")
        else {
            throw BarbicanError(.invalidReference, "secret_ref is not an http(s) URL")
        }
        let metadata = try await get(metaURL, token: token, accept: "application/json")
        guard let meta = (try? JSONValue.parse(Array(metadata)))?.object else {
            throw BarbicanError(.malformedSecret, "secret metadata is not JSON")
        }
        let contentType = meta["content_types"]?.object?["default"]?.string ?? "text/plain"
        let payload = try await get(payloadURL, token: token, accept: contentType)
        if let object = (try? JSONValue.parse(Array(payload)))?.object { return object }
        throw BarbicanError(.malformedSecret, "secret payload is not a JSON object")
    }

    /// libcurl on a thread of its own (it blocks): bounded time, TLS verified unless turned off.
    private func get(_ url: URL, token: String, accept: String) async throws -> Data {
        let headers = ["X-Auth-Token: \(token)", "Accept: \(accept)", "User-Agent: dms-agent"]
        let (urlString, path) = (url.absoluteString, url.path)
        let result = await BlockingPool.run { self.request(urlString, headers: headers) }
        let (status, body) = try result.mapError { BarbicanError($0.code, "GET \(path) failed: \($0.message)") }.get()
        guard (200..<300).contains(status) else {
            throw BarbicanError(.httpStatus, "GET \(path) answered HTTP \(status)")
        }
        return body
    }

    /// For `doctor`: a GET of `url` with no token; any HTTP answer proves the endpoint reachable (and its certificate
    /// verified, for https). Blocks.
    package func probe(_ url: String) -> Result<Int, BarbicanError> {
        request(url, headers: ["User-Agent: dms-agent doctor"]).map(\.status)
    }

    /// One GET through libcurl (blocks): the HTTP status and body, or libcurl's error.
    private func request(_ url: String, headers: [String]) -> Result<(status: Int, body: Data), BarbicanError> {
        let seconds = max(1, Int(timeout.seconds.rounded(.up)))
        var cHeaders: [UnsafePointer<CChar>?] = headers.map { UnsafePointer(strdup($0)) }
        defer { cHeaders.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
        var status = 0
        var body: UnsafeMutablePointer<CChar>?
        var length = 0
        var error = [CChar](repeating: 0, count: 256)
        let rc = cHeaders.withUnsafeMutableBufferPointer { h in
            dms_http_get(
                url, h.baseAddress, Int32(headers.count), caBundle, verifyTLS ? 1 : 0, seconds, &status, &body, &length,
                &error)
        }
        defer { free(body) }
        if rc != 0 {
            let text = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return .failure(BarbicanError(BarbicanError.Code(curlCode: rc), text))
        }
        return .success((status, body.map { Data(bytes: $0, count: length) } ?? Data()))
    }

    /// The values worth redacting.
    package static func secrets(in payload: [String: JSONValue]) -> [String] {
        [
            "aws_access_key_id", "aws_secret_access_key", "access_key", "secret_key", "vault_s3_access_key_id",
            "vault_s3_secret_access_key",
        ]
        .compactMap { payload[$0]?.string }
    }
}
