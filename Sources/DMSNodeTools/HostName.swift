import Glibc

/// This machine's name, as the Python server's socket.gethostname(): the node id's default.
package enum HostName {
    /// gethostname(2); `localhost` when it fails.
    package static var current: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
