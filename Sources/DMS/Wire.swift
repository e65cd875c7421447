import FoundationEssentials
import Glibc
import VaultFuse

/// Stable, machine-readable reasons carried in a reply's `code`.
public enum ReplyCode: String, Codable, Sendable {
    case ok
    case invalidRequest = "invalid_request"
    case invalidTargetID = "invalid_target_id"
    case pathOutsideBase = "path_outside_base"
    case wrongHost = "wrong_host"
    case expired
    case conflict
    case spawnFailed = "spawn_failed"
    case mountTimeout = "mount_timeout"
    case credentialsFailed = "credentials_failed"
    case unmountBusy = "unmount_busy"
    case unmountFailed = "unmount_failed"
    case mountFailed = "mount_failed"
    case unsupportedType = "unsupported_type"
    case unknownAction = "unknown_action"
    case internalError = "internal_error"
    case publisherNotAllowed = "publisher_not_allowed"
}

extension JobReply {
    /// An error reply. A target id that is not valid is not echoed back.
    public static func failure(
        _ code: ReplyCode, _ text: String, nodeID: String, targetID: String?, jobID: Int64?,
        mountPath: String? = nil
    ) -> JobReply {
        JobReply(
            status: .error, errorMsg: text, successMsg: nil, nodeID: nodeID,
            targetID: targetID.flatMap { TargetID.isValid($0) ? $0 : nil },
            jobID: jobID, mountPath: mountPath, code: code)
    }
}

/// The reply's `status`, the one key the original client branches on.
public enum ReplyStatus: String, Codable, Sendable, CaseIterable {
    case success, error
}

/// The reply: exactly the existing client's three keys, plus keys it ignores.
public struct JobReply: Codable, Sendable, Equatable {
    public var status: ReplyStatus
    public var errorMsg: String?
    public var successMsg: String?
    public var nodeID: String
    public var targetID: String?
    public var jobID: Int64?
    public var mountPath: String?
    public var pid: Int32?
    public var code: ReplyCode
    public var detail: String?
    /// Only for `status` requests: the manager's stats.
    public var stats: ManagerStats?

    enum CodingKeys: String, CodingKey {
        case status
        case errorMsg = "error_msg"
        case successMsg = "success_msg"
        case nodeID = "node_id"
        case targetID = "target_id"
        case jobID = "jobid"
        case mountPath = "mount_path"
        case pid, code, detail, stats
    }

    public var isSuccess: Bool { status == .success }

    /// The three original keys are always present, `null` when empty. Written by hand: it runs for
    /// every job, and JSONSerialization's sorted-dictionary path was a tenth of the agent's CPU.
    public func encoded() -> [UInt8] {
        var out = JSONText()
        out.key("status")
        out.string(status.rawValue)
        out.key("error_msg")
        out.optional(errorMsg)
        out.key("success_msg")
        out.optional(successMsg)
        out.key("node_id")
        out.string(nodeID)
        out.key("code")
        out.string(code.rawValue)
        out.field("target_id", targetID)
        out.field("jobid", raw: jobID.map { String($0) })
        out.field("mount_path", mountPath)
        out.field("pid", raw: pid.map { String($0) })
        out.field("detail", detail)
        if let stats, let data = try? JSONEncoder().encode(stats) {
            out.key("stats")
            out.raw(String(decoding: data, as: UTF8.self))
        }
        return out.finish()
    }

    public static func decode(_ bytes: [UInt8]) throws -> JobReply {
        try JSONDecoder().decode(JobReply.self, from: Data(bytes))
    }
}

/// What a status event reports; its routing key is `<node_id>.<kind>[.<target_id>]`.
public enum EventKind: String, Codable, Sendable, CaseIterable {
    case nodeStarted = "node.started"
    case nodeStopping = "node.stopping"
    case nodeHeartbeat = "node.heartbeat"
    case requestAbandoned = "request.abandoned"
    case mounted, unmounted, adopted, crashed
    case staleCleaned = "stale_cleaned"
}

/// A status event on `trilio_dms.status`.
public struct StatusEvent: Codable, Sendable, Equatable {
    public var event: EventKind
    public var nodeID: String
    public var targetID: String?
    public var pid: Int32?
    public var mountPath: String?
    public var time: String
    public var detail: String?
    public var stats: ManagerStats?

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
        detail: String? = nil, stats: ManagerStats? = nil, time: Date = Date()
    ) {
        self.event = event
        self.nodeID = nodeID
        self.targetID = targetID
        self.pid = pid
        self.mountPath = mountPath
        self.detail = detail
        self.stats = stats
        self.time = rfc3339(time)
    }

    /// `<node_id>.<event>` or `<node_id>.<event>.<target_id>`.
    public var routingKey: String {
        targetID.map { "\(nodeID).\(event.rawValue).\($0)" } ?? "\(nodeID).\(event.rawValue)"
    }
}

/// RFC 3339 in UTC with milliseconds. Hand-rolled: ISO8601DateFormatter builds an ICU formatter on
/// every call, which was 40 % of the agent's CPU under load.
public func rfc3339(_ date: Date) -> String {
    let seconds = date.timeIntervalSince1970
    var whole = time_t(seconds.rounded(.down))
    let millis = Int((seconds - Double(whole)) * 1000)
    var parts = tm()
    gmtime_r(&whole, &parts)
    func pad(_ value: Int32, _ width: Int) -> String {
        let s = String(value)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
    return
        "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
}

/// A plain message as an error, for validation results.
public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var message: String
    public init(_ message: String) { self.message = message }
    public init(stringLiteral value: String) { message = value }
    public var description: String { message }
}

/// A minimal JSON object writer with correct string escaping.
public struct JSONText {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]
    private var first = true

    public init() {}

    public mutating func key(_ name: String) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        string(name)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// `"name": "value"` when there is a value; nothing otherwise.
    public mutating func field(_ name: String, _ value: String?) {
        guard let value else { return }
        key(name)
        string(value)
    }

    /// `"name": value` (JSON text as it is) when there is a value; nothing otherwise.
    public mutating func field(_ name: String, raw value: String?) {
        guard let value else { return }
        key(name)
        raw(value)
    }

    public mutating func optional(_ value: String?) {
        if let value { string(value) } else { raw("null") }
    }

    public mutating func string(_ value: String) { Self.escape(value, into: &bytes) }

    static func escape(_ value: String, into bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for b in value.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [92, 92])
            case 10: bytes.append(contentsOf: [92, UInt8(ascii: "n")])
            case 13: bytes.append(contentsOf: [92, UInt8(ascii: "r")])
            case 9: bytes.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0..<32:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }
}
