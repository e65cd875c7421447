import FoundationEssentials

/// The reply: exactly the existing client's three keys, plus keys it ignores.
public struct JobReply: Codable, Sendable, Equatable {
    public var status: ReplyStatus
    public var errorMsg: String?
    public var successMsg: String?
    public var nodeID: String
    public var targetID: String?
    public var jobID: Int64?
    public var mountPath: String?
    public var pid: Int32?
    public var code: ReplyCode
    public var detail: String?
    /// Only for `status` requests: the manager's stats.
    public var stats: NodeStats?

    enum CodingKeys: String, CodingKey {
        case status
        case errorMsg = "error_msg"
        case successMsg = "success_msg"
        case nodeID = "node_id"
        case targetID = "target_id"
        case jobID = "jobid"
        case mountPath = "mount_path"
        case pid, code, detail, stats
    }

    public init(
        status: ReplyStatus, errorMsg: String? = nil, successMsg: String? = nil, nodeID: String,
        targetID: String? = nil, jobID: Int64? = nil, mountPath: String? = nil, pid: Int32? = nil, code: ReplyCode,
        detail: String? = nil, stats: NodeStats? = nil
    ) {
        self.status = status
        self.errorMsg = errorMsg
        self.successMsg = successMsg
        self.nodeID = nodeID
        self.targetID = targetID
        self.jobID = jobID
        self.mountPath = mountPath
        self.pid = pid
        self.code = code
        self.detail = detail
        self.stats = stats
    }

    public var isSuccess: Bool { status == .success }

    /// The three original keys are always present, `null` when empty. Written by hand: it runs for
    /// every job, and JSONSerialization's sorted-dictionary path was a tenth of the agent's CPU.
    public func encoded() -> [UInt8] {
        var out = JSONText()
        out.key("status")
        out.string(status.rawValue)
        out.key("error_msg")
        out.optional(errorMsg)
        out.key("success_msg")
        out.optional(successMsg)
        out.key("node_id")
        out.string(nodeID)
        out.key("code")
        out.string(code.rawValue)
        out.field("target_id", targetID)
        out.field("jobid", raw: jobID.map { String($0) })
        out.field("mount_path", mountPath)
        out.field("pid", raw: pid.map { String($0) })
        out.field("detail", detail)
        if let stats, let data = try? JSONEncoder().encode(stats) {
            out.key("stats")
            out.raw(String(decoding: data, as: UTF8.self))
        }
        return out.finish()
    }

    public static func decode(_ bytes: [UInt8]) throws -> JobReply {
        try JSONDecoder().decode(JobReply.self, from: Data(bytes))
    }
}
