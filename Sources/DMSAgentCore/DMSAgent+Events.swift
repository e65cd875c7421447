import AMQP
import DMSWire
import FoundationEssentials
import VaultFuse

extension DMSAgent {
    func publish(_ event: ManagerEvent) async {
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
        }
        await publishEvent(status)
    }

    /// Best effort: an event that cannot be confirmed within the publish timeout is logged and dropped.
    func publishEvent(_ event: StatusEvent) async {
        let body = event.encoded()
        do {
            try await publisher.publish(
                AMQPOutgoingMessage(
                    exchange: configuration.statusExchange, routingKey: event.routingKey, body: body,
                    properties: AMQPProperties(contentType: "application/json", persistent: true)))
        } catch {
            logger.warning(
                "status event not published", metadata: ["event": "\(event.event.rawValue)", "error": "\(error)"])
        }
    }
}
