import Foundation
import TestSupport
import Testing

@testable import DMSWire

struct JobReplyTests {
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

    @Test func anEventWrittenByHandDecodesToItself() throws {
        let stats = NodeStats(
            totalTracked: 1, alive: 1, dead: 0, allPIDsEverSpawned: [42], pidFilesOnDisk: 1,
            pidDirectory: "/run/dms/s3",
            processes: [
                .init(
                    targetID: "t", pid: 42, alive: true, mountPath: "/m/t", mounted: true, pidFile: "/run/dms/s3/t.pid",
                    pidFileExists: true, uptimeSeconds: 1.5, adopted: false)
            ], onlyOnDisk: [])
        for event in [
            StatusEvent(
                event: .crashed, nodeID: "n\"1", targetID: "t", pid: 42, mountPath: "/m/t", detail: "a\nb\\c\u{01}"),
            StatusEvent(event: .nodeHeartbeat, nodeID: "n1", stats: stats),
            StatusEvent(event: .nodeStopping, nodeID: "n1"),
        ] {
            let decoded = try JSONDecoder().decode(StatusEvent.self, from: Data(event.encoded()))
            #expect(decoded == event)
        }
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
