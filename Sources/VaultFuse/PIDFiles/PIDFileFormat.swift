import FoundationEssentials
import Glibc

/// A PID file's bytes: the decimal PID (> 1) and at most one newline, nothing else; the original server wrote no
/// newline. Anything else is malformed (`package` for the fuzzers).
package enum PIDFileFormat {
    package static func pid(in bytes: ArraySlice<UInt8>) -> Int32? {
        var digits = bytes
        if digits.last == UInt8(ascii: "\n") { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.count <= 10, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            let pid = Int32(String(decoding: digits, as: UTF8.self)), pid > 1
        else { return nil }
        return pid
    }

    /// What `PIDFile.write` puts in the file.
    package static func bytes(of pid: Int32) -> [UInt8] { Array("\(pid)\n".utf8) }
}
