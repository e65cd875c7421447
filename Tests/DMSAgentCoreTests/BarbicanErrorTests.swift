import Testing

@testable import DMSAgentCore

/// Barbican failures carry a code the job's error and `doctor` act on; no server is needed to reach these.
struct BarbicanErrorTests {
    @Test func aReferenceThatIsNotHTTPIsRefusedBeforeAnyRequest() async {
        let error = await #expect(throws: BarbicanError.self) {
            _ = try await BarbicanClient().fetchPayload(secretRef: "file:///etc/shadow", token: "t")
        }
        #expect(error?.code == .invalidReference)
    }

    @Test func aClosedPortIsUnreachable() async {
        // Port 9 (discard) on loopback: nothing listens there on a test machine.
        let error = await #expect(throws: BarbicanError.self) {
            _ = try await BarbicanClient(timeout: .seconds(2)).fetchPayload(
                secretRef: "http://127.0.0.1:9/s", token: "t")
        }
        #expect(error?.code == .unreachable)
    }

    @Test func libcurlsTLSFamilyIsTLSAndTheRestUnreachable() {
        // 60: peer certificate cannot be authenticated with the known CAs; 35: handshake; 7: could not connect;
        // 28: timeout; 6: could not resolve the host.
        for code: Int32 in [60, 35, 51, 77] { #expect(BarbicanError.Code(curlCode: code) == .tls, "\(code)") }
        for code: Int32 in [7, 28, 6] { #expect(BarbicanError.Code(curlCode: code) == .unreachable, "\(code)") }
    }
}
