import CRabbitMQ
import Dispatch
import FoundationEssentials
import Glibc

/// Owns the C memory behind tables, strings and bodies for the duration of one library call.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit { allocations.forEach { free($0) } }

    func bytes(_ string: String) -> amqp_bytes_t { bytes(Array(string.utf8)) }

    func bytes(_ data: [UInt8]) -> amqp_bytes_t {
        if data.isEmpty { return amqp_bytes_t(len: 0, bytes: nil) }
        let p = malloc(data.count)!
        allocations.append(p)
        data.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: data.count) }
        return amqp_bytes_t(len: data.count, bytes: p)
    }

    func cString(_ string: String) -> UnsafePointer<CChar> {
        let p = strdup(string)!
        allocations.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    func table(_ dict: [String: AMQPFieldValue]) -> amqp_table_t {
        if dict.isEmpty { return amqp_table_t(num_entries: 0, entries: nil) }
        let entries = malloc(MemoryLayout<amqp_table_entry_t>.stride * dict.count)!.bindMemory(
            to: amqp_table_entry_t.self, capacity: dict.count)
        allocations.append(UnsafeMutableRawPointer(entries))
        for (i, (key, value)) in dict.sorted(by: { $0.key < $1.key }).enumerated() {
            entries[i] = amqp_table_entry_t(key: bytes(key), value: field(value))
        }
        return amqp_table_t(num_entries: Int32(dict.count), entries: entries)
    }

    func field(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var f = amqp_field_value_t()
        switch value {
        case .string(let s):
            f.kind = UInt8(ascii: "S")
            f.value.bytes = bytes(s)
        case .int(let i):
            f.kind = UInt8(ascii: "l")
            f.value.i64 = i
        case .bool(let b):
            f.kind = UInt8(ascii: "t")
            f.value.boolean = b ? 1 : 0
        case .double(let d):
            f.kind = UInt8(ascii: "d")
            f.value.f64 = d
        case .timestamp(let t):
            f.kind = UInt8(ascii: "T")
            f.value.u64 = t
        case .table(let t):
            f.kind = UInt8(ascii: "F")
            f.value.table = table(t)
        case .bytes(let b):
            f.kind = UInt8(ascii: "x")
            f.value.bytes = bytes(b)
        case .void: f.kind = UInt8(ascii: "V")
        case .array(let items):
            f.kind = UInt8(ascii: "A")
            let entries = malloc(MemoryLayout<amqp_field_value_t>.stride * max(items.count, 1))!.bindMemory(
                to: amqp_field_value_t.self, capacity: max(items.count, 1))
            allocations.append(UnsafeMutableRawPointer(entries))
            for (i, item) in items.enumerated() { entries[i] = field(item) }
            f.value.array = amqp_array_t(num_entries: Int32(items.count), entries: entries)
        }
        return f
    }
}

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
