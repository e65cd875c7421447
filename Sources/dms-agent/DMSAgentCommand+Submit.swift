import ArgumentParser
import DMSClient
import DMSSettings
import DMSWire
import FoundationEssentials
import Logging

extension DMSAgentCommand {
    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a job to a node's agent, as the orchestrator does, and print the reply.",
            discussion:
                "Exit status: 0 when the reply says success, 1 when it says error, 2 when no reply came in time or the node has no queue."
        )

        @Argument(help: "mount, unmount or status.") var action: String
        @Option(help: ArgumentHelp(Settings.rabbitmqURL.help, valueName: "url")) var rabbitmqURL: String?
        @Option(help: ArgumentHelp("The node whose agent runs the job.", valueName: "id")) var node: String
        @Option(help: ArgumentHelp("Backup target id.", valueName: "id")) var target: String?
        @Option(help: ArgumentHelp("Mount path (filesystem_export_mount_path).", valueName: "path")) var path: String?
        @Option(help: ArgumentHelp("s3 or nfs. Default s3.", valueName: "type")) var type: String = "s3"
        @Option(help: ArgumentHelp("NFS export host:/path.", valueName: "export")) var export: String?
        @Option(help: ArgumentHelp("NFS mount options.", valueName: "opts")) var nfsOptions: String?
        @Option(help: ArgumentHelp("Barbican secret href.", valueName: "url")) var secretRef: String?
        @Option(help: ArgumentHelp("File holding the keystone token.", valueName: "path")) var tokenFile: String?
        @Option(help: ArgumentHelp("Job id. Default: a random one.", valueName: "n")) var jobid: Int64?
        @Option(help: ArgumentHelp("Seconds to wait for the reply. Default 60.", valueName: "s")) var timeout: Double =
            60

        func run() async throws {
            LoggingSystem.bootstrap { label in
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = .error
                return h
            }
            let url = SettingsResolver(
                options: [Settings.rabbitmqURL.option: rabbitmqURL], environment: ProcessInfo.processInfo.environment
            ).brokerURL
            guard let action = JobRequest.Action(rawValue: action) else {
                throw ValidationError("action: mount, unmount or status, got \(self.action)")
            }
            guard let targetType = JobRequest.TargetType(rawValue: type) else {
                throw ValidationError("--type: s3 or nfs, got \(type)")
            }
            var request = JobRequest(action: action, host: node, jobID: jobid ?? Int64.random(in: 1...1_000_000_000))
            if let tokenFile { request.keystoneToken = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmed }
            if action != .status {
                guard let target, let path else { throw ValidationError("mount and unmount need --target and --path") }
                request.target = .init(
                    id: target, type: targetType, mountPath: path, filesystemExport: export,
                    nfsMountOptions: nfsOptions, secretRef: secretRef)
            }
            let reply: [UInt8]?
            do {
                reply = try await withDMSClient(
                    url: url, name: "dms-submit", publishTimeout: .seconds(timeout),
                    connectTimeout: .seconds(min(timeout, 15))
                ) { client in
                    try await client.reply(
                        try await client.send(request.encoded, to: node, mandatory: true), timeout: .seconds(timeout))
                }
            } catch let error as DMSClientError where error.code == .invalidURL {
                throw ValidationError(error.description)
            } catch let error as DMSClientError {
                printError("\(error)\n")
                throw ExitCode(ExitStatus.of(error))
            } catch {
                printError("cannot reach the broker: \(error)\n")
                throw ExitCode(ExitStatus.noAnswer)
            }
            guard let reply else {
                printError("no reply from node \(node) within \(timeout) s\n")
                throw ExitCode(ExitStatus.noAnswer)
            }
            print(String(decoding: reply, as: UTF8.self))
            if (try? JobReply.decode(reply))?.isSuccess != true { throw ExitCode.failure }
        }
    }
}
