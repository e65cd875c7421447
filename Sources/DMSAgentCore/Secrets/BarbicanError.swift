import LinuxSupport

/// Why a Barbican secret could not be read. `doctor` and the job's error say what to fix by the code.
package struct BarbicanError: CodedError {
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String {
            case invalidReference = "invalid_secret_ref"
            case unreachable
            case tls
            case httpStatus = "http_status"
            case malformedSecret = "malformed_secret"
        }
        private let value: Value
        private init(value: Value) { self.value = value }
        /// The secret_ref is not an http(s) URL.
        package static let invalidReference = Code(value: .invalidReference)
        /// No answer: name resolution, connection, timeout.
        package static let unreachable = Code(value: .unreachable)
        /// The TLS handshake or the verification of Barbican's certificate failed (barbican_ca_bundle,
        /// barbican_ssl_verify).
        package static let tls = Code(value: .tls)
        /// Barbican answered, but not 2xx (a token it refuses, a secret it does not have).
        package static let httpStatus = Code(value: .httpStatus)
        /// The secret is not what an S3 target's secret is (JSON metadata, a JSON object payload).
        package static let malformedSecret = Code(value: .malformedSecret)
        package var description: String { value.rawValue }

        /// libcurl's result code: the TLS family (handshake, peer verification, CA file, client certificate, pinned
        /// key, revocation) is `tls`, anything else on the way is `unreachable`.
        init(curlCode: Int32) {
            let tlsFamily: Set<Int32> = [35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91, 98]
            value = tlsFamily.contains(curlCode) ? .tls : .unreachable
        }
    }

    package let code: Code
    package let message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
