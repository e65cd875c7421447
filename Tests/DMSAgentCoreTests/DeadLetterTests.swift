import DMSWire
import Foundation
import Testing

@testable import DMSAgentCore

struct DeadLetterTests {
    @Test func everySecretIsRemovedAtAnyDepth() throws {
        let body =
            Array(#"{"action":"mount","keystone_token":"gAAAA-tok","context":{"auth_token":"t2","user_id":"u"},"#.utf8)
            + Array(
                #""backup_target":{"id":"bt","secret_ref":"http://barbican/v1/secrets/1","credentials":{"a":"b"}},"#
                    .utf8)
            + Array(#""list":[{"Password":"p"},{"aws_secret_access_key":"SK"}],"keystone_token_null":null}"#.utf8)
        let scrubbed = String(decoding: DeadLetter.scrub(body), as: UTF8.self)
        for secret in ["gAAAA-tok", "t2", "\"b\"", "\"p\"", "SK"] {
            #expect(!scrubbed.contains(secret), "\(secret) leaked: \(scrubbed)")
        }
        let json = try #require(try JSONValue.parse(Array(scrubbed.utf8)).object)
        #expect(json["keystone_token"] == "***" && json["action"] == "mount")
        #expect(
            json["backup_target"]?.object?["secret_ref"] == "http://barbican/v1/secrets/1",
            "a reference is not a secret")
        #expect(json["context"]?.object?["user_id"] == "u")
        #expect(json["keystone_token_null"] == .null, "null stays null")
    }

    @Test func unparseableBodiesKeepNothingThatMayBeASecret() throws {
        let broken = Array(#"{"action":"mount","keystone_token":"gAAAA-tok""#.utf8)
        let scrubbed = String(decoding: DeadLetter.scrub(broken), as: UTF8.self)
        #expect(!scrubbed.contains("gAAAA") && scrubbed.contains("dms_redacted"))
        let harmless = Array("not json at all".utf8)
        #expect(DeadLetter.scrub(harmless) == harmless)
    }
}
