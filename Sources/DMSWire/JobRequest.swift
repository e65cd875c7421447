import FoundationEssentials

/// A validated job request, as the existing DMS client sends it.
public struct JobRequest: Sendable, Equatable {
    public enum Action: String, Sendable { case mount, unmount, status }
    public enum TargetType: String, Sendable { case s3, nfs }

    public struct Target: Sendable, Equatable {
        public var id: String
        public var type: TargetType
        public var mountPath: String
        public var filesystemExport: String?
        public var nfsMountOptions: String?
        public var secretRef: String?

        public init(
            id: String, type: TargetType = .s3, mountPath: String, filesystemExport: String? = nil,
            nfsMountOptions: String? = nil, secretRef: String? = nil
        ) {
            self.id = id
            self.type = type
            self.mountPath = mountPath
            self.filesystemExport = filesystemExport
            self.nfsMountOptions = nfsMountOptions
            self.secretRef = secretRef
        }
    }

    public var action: Action
    public var host: String
    public var jobID: Int64?
    public var keystoneToken: String?
    /// nil only for `status`.
    public var target: Target?

    public init(
        action: Action, host: String, jobID: Int64? = nil, keystoneToken: String? = nil, target: Target? = nil
    ) {
        self.action = action
        self.host = host
        self.jobID = jobID
        self.keystoneToken = keystoneToken
        self.target = target
    }
}
