/// Why a message could not become a `JobRequest`; it gets an error reply and goes to the dead-letter queue.
public struct RequestError: Error, Sendable, Equatable {
    public var code: ReplyCode
    public var message: String
    /// What could still be read of the request, for the reply.
    public var targetID: String?
    public var jobID: Int64?

    public init(code: ReplyCode, message: String, targetID: String? = nil, jobID: Int64? = nil) {
        self.code = code
        self.message = message
        self.targetID = targetID
        self.jobID = jobID
    }
}
