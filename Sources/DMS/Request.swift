import Foundation

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
    }

    public var action: Action
    public var host: String
    public var jobID: Int64?
    public var keystoneToken: String?
    /// nil only for `status`.
    public var target: Target?
}

/// Why a message could not become a `JobRequest`; it gets an error reply and goes to the dead-letter queue.
public struct RequestError: Error, Sendable, Equatable {
    public var code: ReplyCode
    public var message: String
    /// What could still be read of the request, for the reply.
    public var targetID: String?
    public var jobID: Int64?
}

public enum RequestParser {
    public static let maximumBodyBytes = 1 << 20

    public static func parse(_ body: [UInt8]) -> Result<JobRequest, RequestError> {
        guard body.count <= maximumBodyBytes else {
            return .failure(RequestError(code: .invalidRequest, message: "Request body of \(body.count) bytes exceeds the 1 MiB limit"))
        }
        guard let json = try? JSONSerialization.jsonObject(with: Data(body), options: []) else {
            return .failure(RequestError(code: .invalidRequest, message: "Invalid JSON format in request"))
        }
        guard let object = json as? [String: Any] else {
            return .failure(RequestError(code: .invalidRequest, message: "Invalid JSON format in request: expected an object"))
        }
        return parse(object)
    }

    static func parse(_ o: [String: Any]) -> Result<JobRequest, RequestError> {
        let rawTarget = o["backup_target"] as? [String: Any]
        let targetID = rawTarget?["id"] as? String
        let jobID = jobID(o)
        func fail(_ code: ReplyCode, _ message: String) -> Result<JobRequest, RequestError> {
            .failure(RequestError(code: code, message: message, targetID: targetID, jobID: jobID.flatMap { try? $0.get() } ?? nil))
        }
        guard let actionName = o["action"] else { return fail(.invalidRequest, "Missing required field: 'action'") }
        guard let actionString = actionName as? String else { return fail(.invalidRequest, "Field 'action' must be a string") }
        guard let action = JobRequest.Action(rawValue: actionString) else {
            return fail(.unknownAction, "Unknown action: \(String(actionString.prefix(64)))")
        }
        guard let hostValue = o["host"] else { return fail(.invalidRequest, "Missing required field: 'host'") }
        guard let host = hostValue as? String else { return fail(.invalidRequest, "Field 'host' must be a string") }
        if let token = o["keystone_token"], !(token is String), !(token is NSNull) {
            return fail(.invalidRequest, "Field 'keystone_token' must be a string or null")
        }
        if let context = o["context"], !(context is [String: Any]), !(context is NSNull) {
            return fail(.invalidRequest, "Field 'context' must be an object")
        }
        if let job = o["job"], !(job is [String: Any]), !(job is NSNull) {
            return fail(.invalidRequest, "Field 'job' must be an object")
        }
        var id: Int64?
        switch jobID {
        case .failure(let refusal)?: return fail(.invalidRequest, refusal.message)
        case .success(let value)?: id = value
        case nil: id = nil
        }
        var request = JobRequest(action: action, host: host, jobID: id, keystoneToken: o["keystone_token"] as? String, target: nil)
        if action == .status { return .success(request) }
        if action == .mount || action == .unmount, id == nil {
            return fail(.invalidRequest, "Missing required field: 'jobid'")
        }
        guard let t = rawTarget else {
            return fail(.invalidRequest, o["backup_target"] == nil ? "Missing required field: 'backup_target'" : "Field 'backup_target' must be an object")
        }
        guard let tid = t["id"] as? String else { return fail(.invalidRequest, "Missing required field: 'backup_target.id' (a string)") }
        guard let typeName = t["type"] as? String else { return fail(.invalidRequest, "Missing required field: 'backup_target.type' (a string)") }
        guard let type = JobRequest.TargetType(rawValue: typeName) else {
            return fail(.unsupportedType, "Unsupported target type: \(String(typeName.prefix(64)))")
        }
        guard let path = t["filesystem_export_mount_path"] as? String, !path.isEmpty else {
            return fail(.invalidRequest, "Missing filesystem_export_mount_path in backup_target")
        }
        for key in ["filesystem_export", "nfs_mount_opts", "secret_ref"] {
            if let v = t[key], !(v is String), !(v is NSNull) { return fail(.invalidRequest, "Field 'backup_target.\(key)' must be a string or null") }
        }
        request.target = JobRequest.Target(id: tid, type: type, mountPath: path, filesystemExport: t["filesystem_export"] as? String,
                                           nfsMountOptions: t["nfs_mount_opts"] as? String, secretRef: t["secret_ref"] as? String)
        return .success(request)
    }

    /// `jobid` at the top level (integer or integer string), else `job.jobid`.
    static func jobID(_ o: [String: Any]) -> Result<Int64?, Refusal>? {
        func read(_ v: Any?) -> Result<Int64?, Refusal>? {
            guard let v, !(v is NSNull) else { return nil }
            if let n = v as? NSNumber, String(cString: n.objCType) != "c" {
                let d = n.doubleValue
                if d == d.rounded(), abs(d) < 9e15 { return .success(Int64(d)) }
                return .failure("Field 'jobid' must be an integer")
            }
            if let s = v as? String, let i = Int64(s.trimmingCharacters(in: .whitespaces)) { return .success(i) }
            return .failure("Field 'jobid' must be an integer or an integer string")
        }
        if let top = read(o["jobid"]) { return top }
        if let job = o["job"] as? [String: Any] { return read(job["jobid"]) }
        return nil
    }
}
