public import FoundationEssentials

/// A status event on `trilio_dms.status`.
public struct StatusEvent: Codable, Sendable, Equatable {
    public var event: EventKind
    public var nodeID: String
    public var targetID: String?
    public var pid: Int32?
    public var mountPath: String?
    public var time: String
    public var detail: String?
    public var stats: NodeStats?

    enum CodingKeys: String, CodingKey {
        case event
        case nodeID = "node_id"
        case targetID = "target_id"
        case pid
        case mountPath = "mount_path"
        case time, detail, stats
    }

    public init(
        event: EventKind, nodeID: String, targetID: String? = nil, pid: Int32? = nil, mountPath: String? = nil,
        detail: String? = nil, stats: NodeStats? = nil, time: Date = Date()
    ) {
        self.event = event
        self.nodeID = nodeID
        self.targetID = targetID
        self.pid = pid
        self.mountPath = mountPath
        self.detail = detail
        self.stats = stats
        self.time = RFC3339.string(from: time)
    }

    /// The event's JSON, written by hand as `JobReply.encoded()` is: JSONEncoder cost more CPU than the rest of
    /// publishing an event. `stats` (heartbeats, start and stop only) still goes through JSONEncoder.
    public func encoded() -> [UInt8] {
        var out = JSONText()
        out.key("event")
        out.string(event.rawValue)
        out.key("node_id")
        out.string(nodeID)
        out.field("target_id", targetID)
        out.field("pid", raw: pid.map { String($0) })
        out.field("mount_path", mountPath)
        out.key("time")
        out.string(time)
        out.field("detail", detail)
        if let stats, let data = try? JSONEncoder().encode(stats) {
            out.key("stats")
            out.raw(String(decoding: data, as: UTF8.self))
        }
        return out.finish()
    }

    /// `<node_id>.<event>` or `<node_id>.<event>.<target_id>`.
    public var routingKey: String {
        targetID.map { "\(nodeID).\(event.rawValue).\($0)" } ?? "\(nodeID).\(event.rawValue)"
    }
}
