import AMQP
import ArgumentParser
import DMS
import FoundationEssentials
import Glibc
import Logging

extension DMSAgentCommand {
    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a job to a node's agent, as the orchestrator does, and print the reply.",
            discussion: "Exit status: 0 when the reply says success, 1 when it says error, 2 when no reply came in time or the node has no queue.")

        @Argument(help: "mount, unmount or status.") var action: String
        @Option(help: ArgumentHelp("Broker URL. Env DMS_RABBITMQ_URL.", valueName: "url")) var rabbitmqURL: String?
        @Option(help: ArgumentHelp("The node whose agent runs the job.", valueName: "id")) var node: String
        @Option(help: ArgumentHelp("Backup target id.", valueName: "id")) var target: String?
        @Option(help: ArgumentHelp("Mount path (filesystem_export_mount_path).", valueName: "path")) var path: String?
        @Option(help: ArgumentHelp("s3 or nfs. Default s3.", valueName: "type")) var type: String = "s3"
        @Option(help: ArgumentHelp("NFS export host:/path.", valueName: "export")) var export: String?
        @Option(help: ArgumentHelp("NFS mount options.", valueName: "opts")) var nfsOptions: String?
        @Option(help: ArgumentHelp("Barbican secret href.", valueName: "url")) var secretRef: String?
        @Option(help: ArgumentHelp("File holding the keystone token.", valueName: "path")) var tokenFile: String?
        @Option(help: ArgumentHelp("Job id. Default: a random one.", valueName: "n")) var jobid: Int64?
        @Option(help: ArgumentHelp("Seconds to wait for the reply. Default 60.", valueName: "s")) var timeout: Double = 60

        func run() async throws {
            LoggingSystem.bootstrap { label in
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = .error
                return h
            }
            let url = rabbitmqURL ?? ProcessInfo.processInfo.environment["DMS_RABBITMQ_URL"] ?? "amqp://guest:guest@localhost:5672/"
            var request: [String: JSONValue] = ["action": .string(action), "host": .string(node),
                                                "jobid": .int(jobid ?? Int64.random(in: 1...1_000_000_000)), "context": [:]]
            var token: String?
            if let tokenFile { token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmed }
            request["keystone_token"] = token.map(JSONValue.string) ?? .null
            if action != "status" {
                guard let target, let path else { throw ValidationError("mount and unmount need --target and --path") }
                func optional(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
                request["backup_target"] = .object(["id": .string(target), "type": .string(type), "status": "available", "deleted": false,
                                                    "filesystem_export": optional(export), "filesystem_export_mount_path": .string(path),
                                                    "nfs_mount_opts": optional(nfsOptions), "secret_ref": optional(secretRef)])
            }
            let body = JSONValue.object(request).serialized
            let reply = try await Self.send(body: body, node: node, url: url, timeout: timeout)
            guard let reply else {
                printError("no reply from node \(node) within \(timeout) s\n")
                throw ExitCode(2)
            }
            print(String(decoding: reply, as: UTF8.self))
            let decoded = try? JobReply.decode(reply)
            if decoded?.isSuccess != true { throw ExitCode.failure }
        }

        /// Publishes one request to `dms.<node>` (default exchange, mandatory, persistent) and waits for
        /// the reply with the same correlation id on a private exclusive queue.
        static func send(body: [UInt8], node: String, url: String, timeout: Double) async throws -> [UInt8]? {
            var config = try AMQPConfiguration(url: url)
            config.connectionName = "dms-submit"
            config.publishTimeout = timeout
            let replyQueue = "dms.reply.\(UUID().uuidString.lowercased())"
            let client = AMQPClient(configuration: config,
                                    topology: .init(queues: [.init(name: replyQueue, durable: false, exclusive: true, autoDelete: true)]),
                                    consumer: .init(queue: replyQueue, prefetch: 1))
            do {
                try await client.start(timeout: min(timeout, 15))
            } catch {
                await client.close()
                printError("cannot reach the broker: \(error)\n")
                throw ExitCode(2)
            }
            let correlation = UUID().uuidString.lowercased()
            do {
                try await client.publish(AMQPOutgoingMessage(
                    exchange: "", routingKey: "dms.\(node)", body: body,
                    properties: AMQPProperties(contentType: "application/json", correlationID: correlation, replyTo: replyQueue,
                                               timestamp: UInt64(Date().timeIntervalSince1970), persistent: true),
                    mandatory: true))
            } catch let error as AMQPError where error.code == .unroutable {
                await client.close()
                printError("node \(node) has no queue dms.\(node): is its agent installed?\n")
                throw ExitCode(2)
            }
            let reply = await withTaskGroup(of: [UInt8]?.self) { group in
                group.addTask {
                    for await d in client.deliveries {
                        await client.ack(d)
                        if d.properties.correlationID == correlation { return d.body }
                    }
                    return nil
                }
                group.addTask { try? await Task.sleep(nanoseconds: UInt64(timeout * 1e9)); return nil }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            await client.close()
            return reply
        }
    }
}
