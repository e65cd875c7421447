import CLinuxProcess
import FoundationEssentials
import Glibc

/// The kernel's mount table, as this process's mount namespace sees it.
package enum MountTable {
    package static func read() -> [MountEntry] {
        guard let bytes = ProcFS.readFile("/proc/self/mountinfo", limit: 64 << 20) else { return [] }
        return parse(bytes)
    }

    /// `/proc/self/mountinfo`'s text, one entry per well-formed line (`package` for the fuzzers).
    package static func parse(_ bytes: [UInt8]) -> [MountEntry] {
        var entries: [MountEntry] = []
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            // The separator follows the six fixed fields and the optional ones: a "-" before field 6 is a
            // malformed line, not a separator (found by fuzz-mountinfo: it trapped on `fields[6..<dash]`).
            guard fields.count >= 10,
                let dash = fields[6...].firstIndex(where: { $0.count == 1 && $0.first == UInt8(ascii: "-") }),
                dash + 2 < fields.endIndex
            else { continue }
            entries.append(
                MountEntry(
                    mountPoint: unescape(fields[4]),
                    fsType: String(decoding: fields[dash + 1], as: UTF8.self),
                    source: unescape(fields[dash + 2]),
                    propagation: fields[6..<dash].map { String(decoding: $0, as: UTF8.self) },
                    superOptions: dash + 3 < fields.endIndex ? String(decoding: fields[dash + 3], as: UTF8.self) : ""))
        }
        return entries
    }

    /// mountinfo writes space, tab, newline and backslash as `\ooo`.
    static func unescape(_ field: ArraySlice<UInt8>) -> String {
        guard field.contains(UInt8(ascii: "\\")) else { return String(decoding: field, as: UTF8.self) }
        var out: [UInt8] = []
        var i = field.startIndex
        while i < field.endIndex {
            let b = field[i]
            if b == UInt8(ascii: "\\"), i + 3 < field.endIndex {
                let digits = field[(i + 1)...(i + 3)]
                if digits.allSatisfy({ $0 >= 48 && $0 <= 55 }) {
                    out.append(digits.reduce(0) { $0 &* 8 &+ ($1 - 48) })
                    i += 4
                    continue
                }
            }
            out.append(b)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The mount that holds `path`: the topmost entry whose mount point is the path or its longest prefix.
    package static func containing(_ path: String, in entries: [MountEntry]? = nil) -> MountEntry? {
        var holder: MountEntry?
        for entry in entries ?? read()
        where entry.mountPoint == "/" || path == entry.mountPoint || path.hasPrefix(entry.mountPoint + "/") {
            // The longest mount point holds the path; of equal ones, the later (topmost) one.
            if entry.mountPoint.count >= (holder?.mountPoint.count ?? 0) { holder = entry }
        }
        return holder
    }

    /// The last (topmost) mount at exactly `path`.
    package static func mount(at path: String, in entries: [MountEntry]? = nil) -> MountEntry? {
        if let entries { return entries.last { $0.mountPoint == path } }
        // Hot path (before every spawn, every readiness wake-up, every unmount): one statx says whether anything is
        // mounted at the path; only a mount root, or a path statx cannot answer for (a disconnected FUSE mount
        // fails with ENOTCONN), costs a read of the table.
        if isMountRoot(path) == false { return nil }
        // Compare the escaped mount-point field as bytes and build strings only for the matching line.
        guard let bytes = ProcFS.readFile("/proc/self/mountinfo", limit: 64 << 20) else { return nil }
        let wanted = escape(path)
        var found: ArraySlice<UInt8>?
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            var field = 0
            var start = line.startIndex
            var i = line.startIndex
            while i < line.endIndex, field < 4 {
                if line[i] == UInt8(ascii: " ") {
                    field += 1
                    start = i + 1
                }
                i += 1
            }
            var end = start
            while end < line.endIndex, line[end] != UInt8(ascii: " ") { end += 1 }
            if field == 4, line[start..<end].elementsEqual(wanted) { found = line }
        }
        guard let line = found else { return nil }
        return parse(Array(line)).first
    }

    /// Whether `path` is the root of a mount in this namespace, from statx's cached attributes; nil when statx fails
    /// or cannot tell.
    static func isMountRoot(_ path: String) -> Bool? {
        switch dms_is_mount_root(path) {
        case 1: true
        case 0: false
        default: nil
        }
    }

    /// mountinfo's escaping of a path (space, tab, newline, backslash as `\ooo`).
    package static func escape(_ path: String) -> [UInt8] {
        var out: [UInt8] = []
        for b in path.utf8 {
            switch b {
            case 32, 9, 10, 92:
                out.append(92)
                out.append(contentsOf: String(b, radix: 8).leftPadded(to: 3).utf8)
            default: out.append(b)
            }
        }
        return out
    }

    package static func fuseMount(at path: String) -> MountEntry? {
        guard let entry = mount(at: path), entry.isFUSE else { return nil }
        return entry
    }

    /// Whether a FUSE mount is at exactly `path`: `fuseMount(at:) != nil` without reading the table where the kernel
    /// answers for the one mount (statmount(2), Linux 6.8+). The hot path: every readiness wake-up, every spawn.
    package static func hasFUSEMount(at path: String) -> Bool {
        kernelSaysFUSEMountRoot(path) ?? (fuseMount(at: path) != nil)
    }

    /// statx and statmount's answer; nil when they cannot give one (an older kernel, a disconnected mount, a symlink on
    /// the way), and the table decides.
    static func kernelSaysFUSEMountRoot(_ path: String) -> Bool? {
        switch dms_is_fuse_mount_root(path) {
        case 1: true
        case 0: false
        default: nil
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
