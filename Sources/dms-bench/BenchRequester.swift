import DMSClient
import DMSWire
import Foundation
import Logging

/// The job-bus client of the benchmark: `DMSClient` with the orchestrator's request shapes.
struct BenchRequester {
    let client: DMSClient

    init(url: String) async throws {
        client = try DMSClient(
            url: url, name: "bench-jobs", publishTimeout: .seconds(120), connectTimeout: .seconds(10))
        try await client.start()
    }

    func close() async { await client.close() }

    func status(node: String, timeout: Double = 120) async -> JobReply? {
        let body = JobRequest(action: .status, host: node, jobID: 1).encoded
        return try? await client.call(body, to: node, timeout: .seconds(timeout)).flatMap { try? JobReply.decode($0) }
    }

    func call(_ action: JobRequest.Action, node: String, target: String, path: String) async throws -> JobReply? {
        let body = JobRequest(action: action, host: node, jobID: 1, target: .init(id: target, mountPath: path)).encoded
        return try await client.call(body, to: node, timeout: .seconds(120)).flatMap { try? JobReply.decode($0) }
    }
}
