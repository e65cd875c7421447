import Foundation
import TestSupport
import Testing

@testable import DMS

struct RequestParsingTests {
    let example = """
        {"action": "mount", "host": "compute-01", "jobid": "4711",
         "context": {"user_id": "u1", "tenant_id": "t1"}, "keystone_token": "gAAAA-token",
         "job": {"jobid": 4711, "status": "running", "action": "backup", "job_details": []},
         "backup_target": {"id": "bt-s3-1", "type": "s3", "status": "available", "deleted": false,
           "filesystem_export": null, "nfs_mount_opts": null,
           "filesystem_export_mount_path": "/var/lib/trilio/triliovault-mounts/dHJpbGlvLXFh",
           "secret_ref": "http://barbican:9311/v1/secrets/0c1d"}, "unknown_field": [1, 2]}
        """

    @Test func parsesTheExistingClientsRequest() throws {
        let request = try RequestParser.parse(Array(example.utf8)).get()
        #expect(request.action == .mount && request.host == "compute-01" && request.jobID == 4711)
        #expect(request.keystoneToken == "gAAAA-token")
        #expect(
            request.target
                == .init(
                    id: "bt-s3-1", type: .s3, mountPath: "/var/lib/trilio/triliovault-mounts/dHJpbGlvLXFh",
                    filesystemExport: nil, nfsMountOptions: nil, secretRef: "http://barbican:9311/v1/secrets/0c1d"))
    }

    @Test func jobIDFallsBackToJobDotJobID() throws {
        let body =
            #"{"action":"unmount","host":"h","job":{"jobid":9},"backup_target":{"id":"a","type":"nfs","filesystem_export_mount_path":"/m/a"}}"#
        #expect(try RequestParser.parse(Array(body.utf8)).get().jobID == 9)
    }

    @Test(arguments: [
        ("not json", ReplyCode.invalidRequest), ("[1,2]", .invalidRequest), (#"{"host":"h"}"#, .invalidRequest),
        (#"{"action":"format","host":"h"}"#, .unknownAction), (#"{"action":7,"host":"h"}"#, .invalidRequest),
        (#"{"action":"mount","host":"h","jobid":1}"#, .invalidRequest),
        (#"{"action":"mount","host":"h","jobid":true,"backup_target":{}}"#, .invalidRequest),
        (#"{"action":"mount","host":"h","jobid":"x1","backup_target":{}}"#, .invalidRequest),
        (
            #"{"action":"mount","host":"h","jobid":1,"backup_target":{"id":"a","type":"cifs","filesystem_export_mount_path":"/m"}}"#,
            .unsupportedType
        ),
        (#"{"action":"mount","host":"h","jobid":1,"backup_target":{"id":"a","type":"s3"}}"#, .invalidRequest),
        (
            #"{"action":"mount","host":"h","jobid":1,"backup_target":{"id":5,"type":"s3","filesystem_export_mount_path":"/m"}}"#,
            .invalidRequest
        ),
        (
            #"{"action":"mount","host":"h","jobid":1,"keystone_token":{},"backup_target":{"id":"a","type":"s3","filesystem_export_mount_path":"/m"}}"#,
            .invalidRequest
        ),
    ])
    func malformedRequestsAreRefusedWithACode(body: String, code: ReplyCode) {
        guard case .failure(let error) = RequestParser.parse(Array(body.utf8)) else {
            Issue.record("accepted: \(body)")
            return
        }
        #expect(error.code == code, "\(body): \(error.message)")
    }

    @Test func oversizedBodyIsRefused() {
        let huge = [UInt8](repeating: 0x20, count: RequestParser.maximumBodyBytes + 1)
        guard case .failure(let error) = RequestParser.parse(huge) else {
            Issue.record("accepted")
            return
        }
        #expect(error.message.contains("1 MiB"))
    }

    @Test func deepNestingDoesNotCrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        if case .success = RequestParser.parse(Array(deep.utf8)) { Issue.record("accepted") }
    }
}

struct ReplyAndEventTests {
    @Test func replyAlwaysCarriesTheThreeOriginalKeys() throws {
        let reply = JobReply(
            status: .success, errorMsg: nil, successMsg: "Already mounted at /m/x", nodeID: "n", targetID: "x",
            jobID: 1, mountPath: "/m/x", pid: 42, code: .ok)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(reply.encoded())) as? [String: Any])
        #expect(object["status"] as? String == "success")
        #expect(object["error_msg"] is NSNull)
        #expect(object["success_msg"] as? String == "Already mounted at /m/x")
        #expect(object["code"] as? String == "ok" && object["pid"] as? Int == 42)
        #expect(try JobReply.decode(reply.encoded()) == reply)
    }

    @Test func eventRoutingKeys() {
        #expect(StatusEvent(event: .crashed, nodeID: "n1", targetID: "t").routingKey == "n1.crashed.t")
        #expect(StatusEvent(event: .nodeHeartbeat, nodeID: "n1").routingKey == "n1.node.heartbeat")
    }

    @Test func schemaExamplesDecode() throws {
        let dir = TestEnv.repoRoot + "/schemas/examples"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(!files.isEmpty)
        for file in files {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + file)))
            if file.hasPrefix("request") {
                #expect((try? RequestParser.parse(bytes).get()) != nil, "\(file)")
            } else if file.hasPrefix("reply") {
                #expect((try? JobReply.decode(bytes)) != nil, "\(file)")
            } else if file.hasPrefix("event") {
                #expect((try? JSONDecoder().decode(StatusEvent.self, from: Data(bytes))) != nil, "\(file)")
            }
        }
    }
}

struct CredentialAndNFSTests {
    @Test func theEnvironmentIsBuiltAsTheOriginalBuildsIt() {
        let env = S3VaultFuseEnvironment.build(
            payload: [
                "aws_access_key_id": "AK", "aws_secret_access_key": "SK", "bucket": "b", "endpoint_url": "http://s3",
                "ssl": true, "ssl_verify": "False", "object_lock": false, "max_pool_connections": 50, "ssl_cert": "",
            ], file: [:])
        #expect(
            env == [
                "AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "vault_s3_bucket": "b",
                "vault_s3_region_name": "us-west-2",
                "vault_s3_endpoint_url": "http://s3", "vault_s3_ssl": "true", "vault_s3_ssl_verify": "false",
                "bucket_object_lock": "false", "vault_s3_max_pool_connections": "50",
                "vault_s3_auth_version": "DEFAULT",
                "vault_s3_signature_version": "default", "vault_storage_nfs_export": "b",
                "use_manifest_suffix": "false",
                "log_config_append": "/etc/triliovault-object-store/object_store_logging.conf",
                "vault_data_directory_old": "/var/triliovault",
                "helper_command":
                    "sudo /usr/bin/workloadmgr-rootwrap /etc/triliovault-wlm/rootwrap.conf privsep-helper",
            ])
    }

    @Test func alternativeKeysThenTheOperatorsFileThenTheDefault() {
        let file = [
            "vault_s3_region_name": "file-region",
            "helper_command": "sudo /usr/bin/trilio-dms-rootwrap x privsep-helper",
            "vault_segment_size": "33554432", "vault_s3_ssl": "False",
        ]
        let legacy = S3VaultFuseEnvironment.build(
            payload: [
                "access_key": "A2", "secret_key": "S2", "vault_s3_bucket": "b2",
                "nfs_export": "exp", "region": "",
            ], file: file)
        #expect(
            legacy["AWS_ACCESS_KEY_ID"] == "A2" && legacy["AWS_SECRET_ACCESS_KEY"] == "S2"
                && legacy["vault_s3_bucket"] == "b2")
        #expect(legacy["vault_s3_region_name"] == "file-region", "an empty payload value falls through to the file")
        #expect(legacy["helper_command"] == "sudo /usr/bin/trilio-dms-rootwrap x privsep-helper")
        #expect(legacy["vault_segment_size"] == "33554432", "the shipped global settings pass through")
        #expect(legacy["vault_s3_ssl"] == "false", "booleans lower-cased, from the file too")
        #expect(legacy["vault_storage_nfs_export"] == "exp")
        let payloadWins = S3VaultFuseEnvironment.build(payload: ["region": "eu-1", "vault_s3_ssl": "TRUE"], file: file)
        #expect(payloadWins["vault_s3_region_name"] == "eu-1" && payloadWins["vault_s3_ssl"] == "true")
        #expect(
            payloadWins["vault_s3_bucket"] == nil && payloadWins["vault_storage_nfs_export"] == nil,
            "empty values are dropped")
    }

    @Test func redactorMasksSecrets() {
        let r = Redactor(secrets: ["AKIASECRET", "x"])
        #expect(r.redact("key AKIASECRET in log, x stays") == "key *** in log, x stays")
    }

    @Test(arguments: ["exec", "suid", "dev", "remount", "rw,exec", "bogus=1", "nolock,foo", "timeo=1;rm"])
    func dangerousNFSOptionsAreRefused(options: String) {
        if case .success = NFSMounter.validateOptions(options) { Issue.record("accepted \(options)") }
    }

    @Test func realNFSOptionsPass() throws {
        #expect(
            try NFSMounter.validateOptions("nolock,soft,timeo=600,intr,lookupcache=none,nfsvers=3,retrans=10").get()
                == "nolock,soft,timeo=600,intr,lookupcache=none,nfsvers=3,retrans=10")
        #expect(try NFSMounter.validateOptions(nil).get() == "defaults")
        #expect(try NFSMounter.validateExport("10.0.0.5:/backups").get() == "10.0.0.5:/backups")
        if case .success = NFSMounter.validateExport("-o exec:/x") { Issue.record("option injection accepted") }
    }
}

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

struct JSONParserTests {
    @Test func parsesWhatTheClientSendsAndDecodesEscapes() throws {
        let v = try JSONValue.parse(
            Array(
                #"{"a": [1, -2.5e3, true, false, null], "s": "t\u00e9\n\"\ud83d\ude00\/", "n": {"x": {}} , "z": 0}"#
                    .utf8))
        #expect(
            v
                == .object([
                    "a": [1, .double(-2500), true, false, nil], "s": .string("té\n\"😀/"), "n": ["x": .object([:])],
                    "z": 0,
                ]))
        #expect(try JSONValue.parse(Array("  \"top\"  ".utf8)) == "top")
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "tru", "nul", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"",
        "{\"a\" 1}", "[1 2]", "\"a\u{01}b\"", "1 2", "{\"a\":1}}", "NaN", "+1", "'x'",
    ])
    func rejectsMalformedJSON(text: String) {
        #expect(throws: (any Error).self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func rejectsInvalidUTF8AndDeepNesting() {
        #expect(throws: (any Error).self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: (any Error).self) {
            try JSONValue.parse(Array((String(repeating: "[", count: 65) + String(repeating: "]", count: 65)).utf8))
        }
        #expect(
            (try? JSONValue.parse(Array((String(repeating: "[", count: 60) + String(repeating: "]", count: 60)).utf8)))
                != nil)
    }

    @Test func serializedTextParsesBack() throws {
        let v: JSONValue = ["k": "q\"uote\\ \u{01} é", "n": [1, 2.5, nil, true], "o": [:]]
        #expect(try JSONValue.parse(v.serialized) == v)
    }
}
