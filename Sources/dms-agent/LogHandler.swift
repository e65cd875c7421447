import DMS
import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// Where log lines go: stderr (journald) or an appended file.
final class LogSink: Sendable {
    let fd: Int32
    let lock = Mutex(())

    private init(fd: Int32) { self.fd = fd }

    static func open(path: String?) -> LogSink {
        guard let path else { return LogSink(fd: 2) }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        return LogSink(fd: fd >= 0 ? fd : 2)
    }

    func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(10)
        lock.withLock { _ in _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
    }
}

/// Plain text by default; `--log-format json` gives one JSON object per line with the metadata as keys.
struct AgentLogHandler: LogHandler {
    let label: String
    let json: Bool
    let sink: LogSink
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    init(label: String, json: Bool, sink: LogSink) {
        self.label = label
        self.json = json
        self.sink = sink
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let (level, message) = (event.level, event.message)
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let time = Self.timestamp()
        if json {
            var object = JSONText()
            object.key("time")
            object.string(time)
            object.key("level")
            object.string(level.rawValue)
            object.key("message")
            object.string("\(message)")
            object.key("logger")
            object.string(label)
            for (k, v) in merged.sorted(by: { $0.key < $1.key })
            where !["time", "level", "message", "logger"].contains(k) {
                object.key(k)
                object.string("\(v)")
            }
            sink.write(String(decoding: object.finish(), as: UTF8.self))
        } else {
            let meta = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            sink.write("\(time) \(level.rawValue) \(message)\(meta.isEmpty ? "" : " " + meta)")
        }
    }

    static func timestamp() -> String { rfc3339(Date()) }
}
