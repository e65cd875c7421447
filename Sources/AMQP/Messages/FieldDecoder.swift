import CRabbitMQ
import FoundationEssentials
import Glibc

enum FieldDecoder {
    static func string(_ b: amqp_bytes_t) -> String {
        guard b.len > 0, let p = b.bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: b.len), as: UTF8.self)
    }

    static func bytes(_ b: amqp_bytes_t) -> [UInt8] {
        guard b.len > 0, let p = b.bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: b.len))
    }

    static func table(_ t: amqp_table_t) -> [String: AMQPFieldValue] {
        var out: [String: AMQPFieldValue] = [:]
        guard t.num_entries > 0, let entries = t.entries else { return out }
        for i in 0..<Int(t.num_entries) { out[string(entries[i].key)] = value(entries[i].value) }
        return out
    }

    static func value(_ f: amqp_field_value_t) -> AMQPFieldValue {
        switch Character(UnicodeScalar(f.kind)) {
        case "S": return .string(string(f.value.bytes))
        case "x": return .bytes(bytes(f.value.bytes))
        case "t": return .bool(f.value.boolean != 0)
        case "b": return .int(Int64(f.value.i8))
        case "B": return .int(Int64(f.value.u8))
        case "s": return .int(Int64(f.value.i16))
        case "u": return .int(Int64(f.value.u16))
        case "I": return .int(Int64(f.value.i32))
        case "i": return .int(Int64(f.value.u32))
        case "l": return .int(f.value.i64)
        case "L": return .int(Int64(bitPattern: f.value.u64))
        case "f": return .double(Double(f.value.f32))
        case "d": return .double(f.value.f64)
        case "T": return .timestamp(f.value.u64)
        case "F": return .table(table(f.value.table))
        case "A":
            let a = f.value.array
            guard a.num_entries > 0, let entries = a.entries else { return .array([]) }
            return .array((0..<Int(a.num_entries)).map { value(entries[$0]) })
        default: return .void
        }
    }

    static func properties(_ p: amqp_basic_properties_t) -> AMQPProperties {
        let flags = p._flags
        func has(_ flag: Int32) -> Bool { flags & amqp_flags_t(UInt32(flag)) != 0 }
        var out = AMQPProperties()
        if has(AMQP_BASIC_CONTENT_TYPE_FLAG) { out.contentType = string(p.content_type) }
        if has(AMQP_BASIC_CORRELATION_ID_FLAG) { out.correlationID = string(p.correlation_id) }
        if has(AMQP_BASIC_REPLY_TO_FLAG) { out.replyTo = string(p.reply_to) }
        if has(AMQP_BASIC_USER_ID_FLAG) { out.userID = string(p.user_id) }
        if has(AMQP_BASIC_MESSAGE_ID_FLAG) { out.messageID = string(p.message_id) }
        if has(AMQP_BASIC_TIMESTAMP_FLAG) { out.timestamp = p.timestamp }
        if has(AMQP_BASIC_EXPIRATION_FLAG) { out.expiration = string(p.expiration) }
        if has(AMQP_BASIC_TYPE_FLAG) { out.type = string(p.type) }
        if has(AMQP_BASIC_DELIVERY_MODE_FLAG) { out.persistent = p.delivery_mode == 2 }
        if has(AMQP_BASIC_HEADERS_FLAG) { out.headers = table(p.headers) }
        return out
    }

    static func encode(_ props: AMQPProperties, arena: CArena) -> amqp_basic_properties_t {
        var p = amqp_basic_properties_t()
        var flags: UInt32 = 0
        func set<Flag: BinaryInteger>(
            _ value: String?, _ field: WritableKeyPath<amqp_basic_properties_t, amqp_bytes_t>, _ flag: Flag
        ) {
            guard let value else { return }
            p[keyPath: field] = arena.bytes(value)
            flags |= UInt32(flag)
        }
        set(props.contentType, \.content_type, AMQP_BASIC_CONTENT_TYPE_FLAG)
        set(props.correlationID, \.correlation_id, AMQP_BASIC_CORRELATION_ID_FLAG)
        set(props.replyTo, \.reply_to, AMQP_BASIC_REPLY_TO_FLAG)
        set(props.userID, \.user_id, AMQP_BASIC_USER_ID_FLAG)
        set(props.messageID, \.message_id, AMQP_BASIC_MESSAGE_ID_FLAG)
        set(props.expiration, \.expiration, AMQP_BASIC_EXPIRATION_FLAG)
        set(props.type, \.type, AMQP_BASIC_TYPE_FLAG)
        if let v = props.timestamp {
            p.timestamp = v
            flags |= UInt32(AMQP_BASIC_TIMESTAMP_FLAG)
        }
        if props.persistent {
            p.delivery_mode = 2
            flags |= UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
        }
        if !props.headers.isEmpty {
            p.headers = arena.table(props.headers)
            flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
        }
        p._flags = flags
        return p
    }
}
