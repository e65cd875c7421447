package import DMSWire

/// The environment s3vaultfuse gets for one S3 target, built as the original server's
/// `prepare_environment` builds it: for each variable the Barbican payload's key, then its alternative key,
/// then the operator's global file (`--s3-env-file`), then the original's default. Empty values are
/// dropped; booleans are lower-cased. The manager adds `PATH`, `vault_data_directory` and `DMS_TARGET_ID`.
package enum S3VaultFuseEnvironment {
    package struct Variable: Sendable {
        package var name: String
        /// Payload keys, in order of preference.
        package var keys: [String]
        package var fallback: String?
        package var isBoolean = false
    }

    /// The table README reproduces. `vault_storage_nfs_export` falls back to the bucket (see `build`).
    package static let variables: [Variable] = [
        .init(name: "vault_s3_bucket", keys: ["bucket", "vault_s3_bucket"]),
        .init(name: "vault_s3_region_name", keys: ["region", "vault_s3_region_name"], fallback: "us-west-2"),
        .init(name: "vault_s3_endpoint_url", keys: ["endpoint_url", "vault_s3_endpoint_url"]),
        .init(name: "vault_s3_auth_version", keys: ["auth_version", "vault_s3_auth_version"], fallback: "DEFAULT"),
        .init(
            name: "vault_s3_signature_version", keys: ["signature_version", "vault_s3_signature_version"],
            fallback: "default"),
        .init(name: "vault_s3_ssl", keys: ["ssl", "vault_s3_ssl"], fallback: "true", isBoolean: true),
        .init(
            name: "vault_s3_ssl_verify", keys: ["ssl_verify", "vault_s3_ssl_verify"], fallback: "true", isBoolean: true),
        .init(name: "vault_s3_ssl_cert", keys: ["ssl_cert", "vault_s3_ssl_cert"]),
        .init(name: "vault_storage_nfs_export", keys: ["nfs_export", "vault_storage_nfs_export"]),
        .init(
            name: "bucket_object_lock", keys: ["object_lock", "bucket_object_lock"], fallback: "false", isBoolean: true),
        .init(name: "use_manifest_suffix", keys: ["use_manifest_suffix"], fallback: "false", isBoolean: true),
        .init(
            name: "vault_s3_max_pool_connections", keys: ["max_pool_connections", "vault_s3_max_pool_connections"],
            fallback: "500"),
        // The prototype's secrets named the keys access_key/secret_key, the 5.x config vault_s3_*: all accepted.
        .init(name: "AWS_ACCESS_KEY_ID", keys: ["aws_access_key_id", "access_key", "vault_s3_access_key_id"]),
        .init(
            name: "AWS_SECRET_ACCESS_KEY", keys: ["aws_secret_access_key", "secret_key", "vault_s3_secret_access_key"]),
        .init(
            name: "log_config_append", keys: ["log_config", "log_config_append"],
            fallback: "/etc/triliovault-object-store/object_store_logging.conf"),
        .init(name: "vault_data_directory_old", keys: [], fallback: "/var/triliovault"),
        .init(
            name: "helper_command", keys: [],
            fallback: "sudo /usr/bin/workloadmgr-rootwrap /etc/triliovault-wlm/rootwrap.conf privsep-helper"),
    ]

    /// `payload` wins over `file`, which wins over the defaults. Keys of `file` that name no variable of the
    /// table (the shipped global settings: `vault_segment_size`, `worker_pool_size`, …) pass through.
    package static func build(payload: [String: JSONValue], file: [String: String]) -> [String: String] {
        var env = file
        for variable in variables {
            var value =
                variable.keys.lazy.compactMap { payloadString(payload[$0]) }.first { !$0.isEmpty }
                ?? file[variable.name] ?? variable.fallback
            if variable.name == "vault_storage_nfs_export", value == nil || value == "" {
                value = env["vault_s3_bucket"]
            }
            if variable.isBoolean { value = value?.lowercased() }
            env[variable.name] = value
        }
        return env.filter { !$0.value.isEmpty }
    }

    /// The values worth redacting from anything the agent writes.
    package static func secrets(in environment: [String: String]) -> [String] {
        ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].compactMap { environment[$0] }.filter { !$0.isEmpty }
    }

    static func payloadString(_ value: JSONValue?) -> String? {
        switch value {
        case .bool(let b)?: return b ? "true" : "false"
        case .string(let s)?: return s
        case .int(let i)?: return String(i)
        case .double(let d)?: return d == d.rounded() && abs(d) < 9e15 ? String(Int64(d)) : String(d)
        default: return nil
        }
    }
}
