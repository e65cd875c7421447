import Glibc

/// A whole file read with open(2)/read(2): works for /proc and character devices, which report no size.
package enum FileContents {
    package static func read(_ path: String, limit: Int = 1 << 20) -> Result<[UInt8], Errno> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return .failure(.current) }
        defer { close(fd) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while result.count < limit {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(.current)
            }
            if n == 0 { break }
            result.append(contentsOf: buffer[0..<n])
        }
        return .success(result)
    }
}

extension FileContents {
    /// Replaces `path` whole: a reader sees the old contents or the new, never a part. Writes a temporary file beside
    /// it (a dot name, so directory scans skip it), sets `mode`, renames it over `path`; when `durable`, fsyncs the
    /// file before and the directory after the rename, so a crash leaves one of the two on disk.
    package static func writeAtomically(
        _ bytes: [UInt8], to path: String, mode: UInt32 = 0o644, durable: Bool = false
    ) throws(Errno) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temporary = "\(directory)/.\(name).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        if fd < 0 { throw .current }
        var failure: Errno?
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if written != bytes.count { failure = written < 0 ? .current : Errno(ENOSPC) }
        if failure == nil, durable, fsync(fd) != 0 { failure = .current }
        // The umask narrowed open's mode; the file gets exactly `mode`.
        if failure == nil, fchmod(fd, mode) != 0 { failure = .current }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 { failure = .current }
        if let failure {
            unlink(temporary)
            throw failure
        }
        guard durable else { return }
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }
}
