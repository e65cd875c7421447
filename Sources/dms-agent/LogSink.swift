import Glibc
import LinuxSupport

/// Where log lines go: stderr (journald), or `log_file`, rotated as Python's RotatingFileHandler rotates it (the
/// original server's): before a line would take the file past `maxBytes`, `<file>.N-1` becomes `.N`, …, the
/// file becomes `.1`, and a new file is opened; `maxBytes` or `backupCount` 0 turns rotation off. SIGHUP reopens
/// the file (logrotate's postrotate). Each line is one write(2) under the lock, so no line is split or lost by a
/// rotation. A failure (unwritable directory, full disk) never stops the agent: it is reported once on stderr, and
/// lines go to stderr until the file works again.
final class LogSink: Sendable {
    struct Rotation: Sendable {
        var maxBytes: Int
        var backupCount: Int
        var isOn: Bool { maxBytes > 0 && backupCount > 0 }
    }

    private struct State {
        var fd: Int32 = 2
        var size: Int = 0
        /// The failure last reported, so each distinct one is said once.
        var reported: String?
    }

    let path: String?
    let rotation: Rotation
    private let state = Locked(State())

    private init(path: String?, rotation: Rotation) {
        self.path = path
        self.rotation = rotation
    }

    static func open(path: String?, rotation: Rotation = .init(maxBytes: 0, backupCount: 0)) -> LogSink {
        let sink = LogSink(path: path, rotation: rotation)
        sink.state.withLock { sink.reopen(&$0) }
        return sink
    }

    func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(10)
        state.withLock { state in
            if path != nil, state.fd != 2, rotation.isOn, state.size > 0, state.size + bytes.count > rotation.maxBytes {
                rotate(&state)
            }
            guard state.fd != 2 else {
                _ = Self.writeAll(2, bytes)
                return
            }
            if let error = Self.writeAll(state.fd, bytes) {
                // A line half written (a full disk) is cut back off the file: it goes whole to stderr instead.
                _ = ftruncate(state.fd, off_t(state.size))
                report("cannot write \(path ?? ""): \(error); logging to stderr", &state)
                _ = Self.writeAll(2, bytes)
                return
            }
            state.size += bytes.count
            state.reported = nil
        }
    }

    /// Closes and opens the file again by its path: after logrotate moved it, lines go to a new file.
    func reopen() { state.withLock { reopen(&$0) } }

    private func reopen(_ state: inout State) {
        guard let path else { return }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        if state.fd != 2 { close(state.fd) }
        guard fd >= 0 else {
            state.fd = 2
            report("cannot open log file \(path): \(String(cString: strerror(errno))); logging to stderr", &state)
            return
        }
        var info = stat()
        state.size = fstat(fd, &info) == 0 ? Int(info.st_size) : 0
        state.fd = fd
        state.reported = nil
    }

    private func rotate(_ state: inout State) {
        guard let path else { return }
        var info = stat()
        // Python's handler does not rotate what is not a regular file (/dev/null, a FIFO).
        guard fstat(state.fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return }
        for index in stride(from: rotation.backupCount - 1, through: 1, by: -1) {
            let from = "\(path).\(index)"
            if access(from, F_OK) == 0 { rename(from, "\(path).\(index + 1)") }
        }
        if rename(path, "\(path).1") != 0 {
            // Not rotated (say, the directory is not writable): keep appending rather than lose lines.
            report("cannot rotate \(path): \(String(cString: strerror(errno))); it keeps growing", &state)
            state.size = 0
            return
        }
        reopen(&state)
    }

    private func report(_ text: String, _ state: inout State) {
        guard state.reported != text else { return }
        state.reported = text
        _ = Self.writeAll(2, Array("dms-agent: \(text)\n".utf8))
    }

    /// nil when every byte was written; else the error.
    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> String? {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            offset += n
        }
        return nil
    }
}
