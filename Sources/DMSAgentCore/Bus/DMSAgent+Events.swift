import AMQP
import DMSWire
import FoundationEssentials
import LinuxSupport
import Logging
import VaultFuse

extension DMSAgent {
    /// Queues the event for the publisher without waiting for its confirm (see `publishEvent`).
    func publish(_ event: ManagerEvent) {
        let node = configuration.nodeID
        let status: StatusEvent
        switch event {
        case .mounted(let t, let pid, let path):
            status = StatusEvent(event: .mounted, nodeID: node, targetID: t, pid: pid, mountPath: path)
        case .unmounted(let t, let pid, let path):
            status = StatusEvent(event: .unmounted, nodeID: node, targetID: t, pid: pid, mountPath: path)
        case .adopted(let t, let pid, let path):
            status = StatusEvent(event: .adopted, nodeID: node, targetID: t, pid: pid, mountPath: path)
        case .staleCleaned(let t, let path, let detail):
            status = StatusEvent(event: .staleCleaned, nodeID: node, targetID: t, mountPath: path, detail: detail)
        case .crashed(let t, let pid, let path, let detail):
            status = StatusEvent(event: .crashed, nodeID: node, targetID: t, pid: pid, mountPath: path, detail: detail)
        case .leftAlone(let t, let path, let detail):
            status = StatusEvent(event: .leftAlone, nodeID: node, targetID: t, mountPath: path, detail: detail)
        }
        let logger = logger
        publisher.publish(message(for: status)) { result in
            if case .failure(let error) = result { Self.logDropped(status, error, logger) }
        }
    }

    /// Best effort: an event that cannot be confirmed within the publish timeout is logged and dropped.
    func publishEvent(_ event: StatusEvent) async {
        do {
            try await publisher.publish(message(for: event))
        } catch {
            Self.logDropped(event, error, logger)
        }
    }

    private func message(for event: StatusEvent) -> AMQPOutgoingMessage {
        AMQPOutgoingMessage(
            exchange: configuration.statusExchange, routingKey: event.routingKey, body: event.encoded(),
            properties: AMQPProperties(contentType: "application/json", persistent: true))
    }

    private static func logDropped(_ event: StatusEvent, _ error: any Error, _ logger: Logger) {
        logger.warning(
            "status event not published", metadata: [LogKey.event: "\(event.event.rawValue)", LogKey.error: "\(error)"])
    }
}
