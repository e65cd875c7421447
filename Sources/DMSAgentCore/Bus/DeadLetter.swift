package import AMQP
package import DMSWire

/// The copy of a refused request kept in the one shared dead-letter queue (`trilio_dms.dead`): the body with every
/// secret removed, the original correlation id, and headers naming the node and the refusal. The agent publishes it itself (confirmed) and
/// then acks the original, so the request queue needs no dead-letter arguments and a durable queue never
/// holds a keystone token.
package enum DeadLetter {
    /// Keys whose values are secrets, matched case-insensitively as substrings (`keystone_token`,
    /// `aws_secret_access_key`, `db_password`, `credentials`, …).
    static let secretKeyParts = ["token", "password", "passwd", "secret", "credential", "private_key", "access_key"]
    /// Names a Barbican secret without being one: useful to an operator reading the dead letter.
    static let notSecret: Set<String> = ["secret_ref"]
    package static let redacted = "***"

    package static func isSecretKey(_ key: String) -> Bool {
        let k = key.lowercased()
        return !notSecret.contains(k) && secretKeyParts.contains { k.contains($0) }
    }

    /// The body without secrets. JSON: every value under a secret key becomes `"***"`, at any depth. Not JSON
    /// (one reason to refuse a request): kept only when it names no secret key at all, else replaced by a
    /// note — a secret cannot be located reliably in text that does not parse.
    package static func scrub(_ body: [UInt8]) -> [UInt8] {
        if let json = try? JSONValue.parse(body) { return scrub(json).serialized }
        let lowered = String(decoding: body, as: UTF8.self).lowercased()
        guard secretKeyParts.contains(where: { lowered.contains($0) }) else { return body }
        let note: JSONValue = [
            "dms_redacted": "the body did not parse as JSON and named a secret key; dropped",
            "original_bytes": .int(Int64(body.count)),
        ]
        return note.serialized
    }

    static func scrub(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            var out: [String: JSONValue] = [:]
            for (key, v) in object { out[key] = isSecretKey(key) && !v.isNull ? .string(redacted) : scrub(v) }
            return .object(out)
        case .array(let items): return .array(items.map(scrub))
        default: return value
        }
    }

    /// The message for the dead-letter queue (default exchange, persistent, mandatory).
    package static func message(
        for delivery: AMQPDelivery, queue: String, code: ReplyCode, error: String,
        nodeID: String, timestamp: UInt64
    ) -> AMQPOutgoingMessage {
        var headers: [String: AMQPFieldValue] = [
            "x-dms-error-code": .string(code.rawValue),
            "x-dms-error": .string(error),
            "x-dms-node": .string(nodeID),
            "x-dms-original-exchange": .string(delivery.exchange),
            "x-dms-original-routing-key": .string(delivery.routingKey),
            "x-dms-redelivered": .bool(delivery.redelivered),
        ]
        if let replyTo = delivery.properties.replyTo { headers["x-dms-reply-to"] = .string(replyTo) }
        let properties = AMQPProperties(
            contentType: delivery.properties.contentType, correlationID: delivery.properties.correlationID,
            messageID: delivery.properties.messageID, timestamp: timestamp, persistent: true,
            headers: headers)
        return AMQPOutgoingMessage(
            exchange: "", routingKey: queue, body: scrub(delivery.body), properties: properties, mandatory: true)
    }
}
