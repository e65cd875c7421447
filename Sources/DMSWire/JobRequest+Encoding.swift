extension JobRequest {
    /// The request as the orchestrator (the original `DMSClient`) writes it. Callers may add or replace fields before
    /// `JSONValue.object(_).serialized`, as the tests do with hostile shapes.
    public var fields: [String: JSONValue] {
        func optional(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
        var o: [String: JSONValue] = [
            "action": .string(action.rawValue), "host": .string(host), "context": ["user_id": "dms"],
            "keystone_token": optional(keystoneToken),
        ]
        if let jobID { o["jobid"] = .int(jobID) }
        if let target {
            o["backup_target"] = .object([
                "id": .string(target.id), "type": .string(target.type.rawValue), "status": "available",
                "deleted": false, "filesystem_export": optional(target.filesystemExport),
                "filesystem_export_mount_path": .string(target.mountPath),
                "nfs_mount_opts": optional(target.nfsMountOptions), "secret_ref": optional(target.secretRef),
            ])
        }
        return o
    }

    /// The JSON body, keys sorted.
    public var encoded: [UInt8] { JSONValue.object(fields).serialized }
}
