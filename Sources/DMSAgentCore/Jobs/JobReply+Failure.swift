import DMSWire
import VaultFuse

extension JobReply {
    /// An error reply. A target id that is not valid is not echoed back.
    static func failure(
        _ code: ReplyCode, _ text: String, nodeID: String, targetID: String?, jobID: Int64?,
        mountPath: String? = nil
    ) -> JobReply {
        JobReply(
            status: .error, errorMsg: text, nodeID: nodeID,
            targetID: targetID.flatMap { TargetID.isValid($0) ? $0 : nil },
            jobID: jobID, mountPath: mountPath, code: code)
    }
}
