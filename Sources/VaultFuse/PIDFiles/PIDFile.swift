import FoundationEssentials
import Glibc
import LinuxSupport

/// `<pid-dir>/<target_id>.pid`: the decimal PID and a newline, nothing else.
struct PIDFile {
    struct Contents {
        var pid: Int32
        /// mtime, seconds since the epoch.
        var modified: Double
    }

    enum ReadError: Error, CustomStringConvertible {
        case missing
        case notRegularFile
        case foreignOwner(uid: UInt32)
        case malformed
        case unreadable(Errno)

        var description: String {
            switch self {
            case .missing: return "no PID file"
            case .notRegularFile: return "not a regular file (symlink or special file)"
            case .foreignOwner(let uid): return "owned by uid \(uid): not root, the agent or an adoptable user"
            case .malformed: return "content is not a decimal PID > 1"
            case .unreadable(let e): return "unreadable: \(e)"
            }
        }
    }

    let path: String
    /// Whether `write` fsyncs the file and its directory (see `PIDDirectory.durable`).
    var durable = true

    /// lstat first: a symlink is never followed; then read through O_NOFOLLOW and check the same inode.
    func read(allowedOwners: Set<UInt32> = [0, getuid()]) -> Result<Contents, ReadError> {
        var st = stat()
        if lstat(path, &st) != 0 { return .failure(errno == ENOENT ? .missing : .unreadable(.current)) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return .failure(.notRegularFile) }
        guard allowedOwners.contains(st.st_uid) else { return .failure(.foreignOwner(uid: st.st_uid)) }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        if fd < 0 { return .failure(.unreadable(.current)) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard n > 0, n < 32, let pid = PIDFileFormat.pid(in: buffer[0..<n]) else { return .failure(.malformed) }
        let modified = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
        return .success(Contents(pid: pid, modified: modified))
    }

    /// Atomic (`FileContents.writeAtomically`), mode 0644; fsynced with its directory when `durable`.
    func write(pid: Int32) throws(Errno) {
        try FileContents.writeAtomically(PIDFileFormat.bytes(of: pid), to: path, mode: 0o644, durable: durable)
    }

    /// Removes the file; when `onlyIfPID` is given, only while it still names that PID.
    @discardableResult
    func remove(onlyIfPID pid: Int32? = nil) -> Bool {
        if let pid, case .success(let contents) = read(), contents.pid != pid { return false }
        return unlink(path) == 0
    }

    /// Target ids of the `<id>.pid` files in `directory` (temp files start with a dot and are skipped).
    static func targets(in directory: String) -> [String] {
        directoryEntries(directory).filter { $0.hasSuffix(".pid") && !$0.hasPrefix(".") }.map { String($0.dropLast(4)) }
    }

    var exists: Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }
}

/// Names in a directory, without `.` and `..`; empty when it cannot be read.
func directoryEntries(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) {
            String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
