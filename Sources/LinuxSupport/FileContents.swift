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
