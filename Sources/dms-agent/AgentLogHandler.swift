import DMSWire
import FoundationEssentials
import Glibc
import Logging

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

    static func timestamp() -> String { RFC3339.string(from: Date()) }
}
