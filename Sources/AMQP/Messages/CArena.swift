import CRabbitMQ
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
