import DMSWire
import Foundation
import Testing

@testable import DMSAgentCore

struct S3VaultFuseEnvironmentTests {
    @Test func theEnvironmentIsBuiltAsTheOriginalBuildsIt() {
        let env = S3VaultFuseEnvironment.build(
            payload: [
                "aws_access_key_id": "AK", "aws_secret_access_key": "SK", "bucket": "b", "endpoint_url": "http://s3",
                "ssl": true, "ssl_verify": "False", "object_lock": false, "max_pool_connections": 50, "ssl_cert": "",
            ], file: [:])
        #expect(
            env == [
                "AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "vault_s3_bucket": "b",
                "vault_s3_region_name": "us-west-2",
                "vault_s3_endpoint_url": "http://s3", "vault_s3_ssl": "true", "vault_s3_ssl_verify": "false",
                "bucket_object_lock": "false", "vault_s3_max_pool_connections": "50",
                "vault_s3_auth_version": "DEFAULT",
                "vault_s3_signature_version": "default", "vault_storage_nfs_export": "b",
                "use_manifest_suffix": "false",
                "log_config_append": "/etc/triliovault-object-store/object_store_logging.conf",
                "vault_data_directory_old": "/var/triliovault",
                "helper_command":
                    "sudo /usr/bin/workloadmgr-rootwrap /etc/triliovault-wlm/rootwrap.conf privsep-helper",
            ])
    }

    @Test func alternativeKeysThenTheOperatorsFileThenTheDefault() {
        let file = [
            "vault_s3_region_name": "file-region",
            "helper_command": "sudo /usr/bin/trilio-dms-rootwrap x privsep-helper",
            "vault_segment_size": "33554432", "vault_s3_ssl": "False",
        ]
        let legacy = S3VaultFuseEnvironment.build(
            payload: [
                "access_key": "A2", "secret_key": "S2", "vault_s3_bucket": "b2",
                "nfs_export": "exp", "region": "",
            ], file: file)
        #expect(
            legacy["AWS_ACCESS_KEY_ID"] == "A2" && legacy["AWS_SECRET_ACCESS_KEY"] == "S2"
                && legacy["vault_s3_bucket"] == "b2")
        #expect(legacy["vault_s3_region_name"] == "file-region", "an empty payload value falls through to the file")
        #expect(legacy["helper_command"] == "sudo /usr/bin/trilio-dms-rootwrap x privsep-helper")
        #expect(legacy["vault_segment_size"] == "33554432", "the shipped global settings pass through")
        #expect(legacy["vault_s3_ssl"] == "false", "booleans lower-cased, from the file too")
        #expect(legacy["vault_storage_nfs_export"] == "exp")
        let payloadWins = S3VaultFuseEnvironment.build(payload: ["region": "eu-1", "vault_s3_ssl": "TRUE"], file: file)
        #expect(payloadWins["vault_s3_region_name"] == "eu-1" && payloadWins["vault_s3_ssl"] == "true")
        #expect(
            payloadWins["vault_s3_bucket"] == nil && payloadWins["vault_storage_nfs_export"] == nil,
            "empty values are dropped")
    }
}
