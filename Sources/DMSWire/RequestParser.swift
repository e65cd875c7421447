import FoundationEssentials

public enum RequestParser {
    public static let maximumBodyBytes = 1 << 20

    public static func parse(_ body: [UInt8]) -> Result<JobRequest, RequestError> {
        guard body.count <= maximumBodyBytes else {
            return .failure(
                RequestError(
                    code: .invalidRequest, message: "Request body of \(body.count) bytes exceeds the 1 MiB limit"))
        }
        guard let json = try? JSONValue.parse(body) else {
            return .failure(RequestError(code: .invalidRequest, message: "Invalid JSON format in request"))
        }
        guard let object = json.object else {
            return .failure(
                RequestError(code: .invalidRequest, message: "Invalid JSON format in request: expected an object"))
        }
        return parse(object)
    }

    static func parse(_ o: [String: JSONValue]) -> Result<JobRequest, RequestError> {
        let rawTarget = o["backup_target"]?.object
        let targetID = rawTarget?["id"]?.string
        let jobID = jobID(o)
        func fail(_ code: ReplyCode, _ message: String) -> Result<JobRequest, RequestError> {
            .failure(
                RequestError(
                    code: code, message: message, targetID: targetID, jobID: jobID.flatMap { try? $0.get() } ?? nil))
        }
        func nullableString(_ v: JSONValue?) -> Bool { v == nil || v!.isNull || v!.string != nil }
        func nullableObject(_ v: JSONValue?) -> Bool { v == nil || v!.isNull || v!.object != nil }
        guard let actionValue = o["action"] else { return fail(.invalidRequest, "Missing required field: 'action'") }
        guard let actionString = actionValue.string else {
            return fail(.invalidRequest, "Field 'action' must be a string")
        }
        guard let action = JobRequest.Action(rawValue: actionString) else {
            return fail(.unknownAction, "Unknown action: \(String(actionString.prefix(64)))")
        }
        guard let hostValue = o["host"] else { return fail(.invalidRequest, "Missing required field: 'host'") }
        guard let host = hostValue.string else { return fail(.invalidRequest, "Field 'host' must be a string") }
        guard nullableString(o["keystone_token"]) else {
            return fail(.invalidRequest, "Field 'keystone_token' must be a string or null")
        }
        guard nullableObject(o["context"]) else { return fail(.invalidRequest, "Field 'context' must be an object") }
        guard nullableObject(o["job"]) else { return fail(.invalidRequest, "Field 'job' must be an object") }
        var id: Int64?
        switch jobID {
        case .failure(let refusal)?: return fail(.invalidRequest, refusal.message)
        case .success(let value)?: id = value
        case nil: id = nil
        }
        var request = JobRequest(
            action: action, host: host, jobID: id, keystoneToken: o["keystone_token"]?.string, target: nil)
        if action == .status { return .success(request) }
        if id == nil { return fail(.invalidRequest, "Missing required field: 'jobid'") }
        guard let t = rawTarget else {
            return fail(
                .invalidRequest,
                o["backup_target"] == nil
                    ? "Missing required field: 'backup_target'" : "Field 'backup_target' must be an object")
        }
        guard let tid = t["id"]?.string else {
            return fail(.invalidRequest, "Missing required field: 'backup_target.id' (a string)")
        }
        guard let typeName = t["type"]?.string else {
            return fail(.invalidRequest, "Missing required field: 'backup_target.type' (a string)")
        }
        guard let type = JobRequest.TargetType(rawValue: typeName) else {
            return fail(.unsupportedType, "Unsupported target type: \(String(typeName.prefix(64)))")
        }
        guard let path = t["filesystem_export_mount_path"]?.string, !path.isEmpty else {
            return fail(.invalidRequest, "Missing filesystem_export_mount_path in backup_target")
        }
        for key in ["filesystem_export", "nfs_mount_opts", "secret_ref"] where !nullableString(t[key]) {
            return fail(.invalidRequest, "Field 'backup_target.\(key)' must be a string or null")
        }
        request.target = JobRequest.Target(
            id: tid, type: type, mountPath: path, filesystemExport: t["filesystem_export"]?.string,
            nfsMountOptions: t["nfs_mount_opts"]?.string, secretRef: t["secret_ref"]?.string)
        return .success(request)
    }

    /// `jobid` at the top level (integer or integer string), else `job.jobid`.
    static func jobID(_ o: [String: JSONValue]) -> Result<Int64?, Refusal>? {
        func read(_ v: JSONValue?) -> Result<Int64?, Refusal>? {
            switch v {
            case nil, .null?: return nil
            case .int(let i)?: return .success(i)
            case .double(let d)?:
                if d == d.rounded(), abs(d) < 9e15 { return .success(Int64(d)) }
                return .failure("Field 'jobid' must be an integer")
            case .string(let s)?:
                if let i = Int64(s.trimmed) { return .success(i) }
                return .failure("Field 'jobid' must be an integer or an integer string")
            default:
                return .failure("Field 'jobid' must be an integer or an integer string")
            }
        }
        if let top = read(o["jobid"]) { return top }
        if let job = o["job"]?.object { return read(job["jobid"]) }
        return nil
    }
}
