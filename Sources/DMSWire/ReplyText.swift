/// The reply texts. The Python client and the people reading its ledger rely on them: wire contract.
public enum ReplyText {
    public static func alreadyMounted(_ path: String) -> String { "Already mounted at \(path)" }
    public static func s3Mounted(_ path: String) -> String { "S3 target mounted successfully at \(path)" }
    public static func nfsMounted(_ path: String) -> String { "NFS target mounted successfully at \(path)" }
    public static func notMounted(_ path: String) -> String { "Target not mounted at \(path)" }
    public static func unmounted(_ path: String) -> String { "Target unmounted successfully from \(path)" }
    public static func status(node: String) -> String { "Node \(node) status" }
    public static func credentialsFailed(_ error: String) -> String { "Failed to fetch credentials: \(error)" }
    public static func unmountBusy(_ path: String) -> String { "Unmount failed: \(path) is busy" }
    public static func unmountError(_ error: String) -> String { "Unmount error: \(error)" }
    public static func nfsMountFailed(_ output: String) -> String { "NFS mount failed: \(output.prefix(2048))" }
    public static func unmountFailed(_ output: String) -> String { "Unmount failed: \(output.prefix(2048))" }
    public static func pathHoldsOther(_ path: String, fsType: String) -> String {
        "Mount path \(path) already holds a \(fsType) mount"
    }
    public static func unreadableS3Settings(_ file: String) -> String {
        "Cannot read the global s3vaultfuse settings \(file)"
    }
    public static func expired(ageSeconds: Int, limitSeconds: Int) -> String {
        "Request expired: sent \(ageSeconds) s ago, limit \(limitSeconds) s; not executed"
    }
    public static func wrongHost(_ host: String, node: String) -> String {
        "Request for host \(host.prefix(128).debugDescription) reached node \(node); not executed"
    }
}
