import Testing

@testable import DMSAgentCore

struct RedactorTests {
    @Test func redactorMasksSecrets() {
        let r = Redactor(secrets: ["AKIASECRET", "x"])
        #expect(r.redact("key AKIASECRET in log, x stays") == "key *** in log, x stays")
    }
}
