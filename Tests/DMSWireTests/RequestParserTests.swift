import Foundation
import Testing

@testable import DMSWire

struct RequestParserTests {
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
