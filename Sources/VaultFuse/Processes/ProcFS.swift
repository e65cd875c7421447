import FoundationEssentials
import Glibc
import LinuxSupport

/// Reads of `/proc` used to prove who a process is. Every reader returns nil when the process is gone.
enum ProcFS {
    struct Stat: Sendable {
        var state: Character
        /// Field 22: clock ticks since boot.
        var startTicks: UInt64
    }

    /// Cached: the agent never forks without exec.
    static let ownPID: Int32 = getpid()

    static let clockTicksPerSecond: Double = Double(sysconf(Int32(_SC_CLK_TCK)))

    static func readFile(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
        try? FileContents.read(path, limit: limit).get()
    }

    static func stat(pid: Int32) -> Stat? {
        guard let bytes = readFile("/proc/\(pid)/stat", limit: 4096),
            let close = bytes.lastIndex(of: UInt8(ascii: ")"))
        else { return nil }
        // comm may hold spaces and parentheses: parse after the last ')'.
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 19, let stateByte = fields[0].first,
            let start = UInt64(String(decoding: fields[19], as: UTF8.self))
        else { return nil }
        return Stat(state: Character(UnicodeScalar(stateByte)), startTicks: start)
    }

    /// NUL-separated entries of `/proc/<pid>/environ` or `/proc/<pid>/cmdline`.
    static func nulSeparated(pid: Int32, _ file: String) -> [String]? {
        guard let bytes = readFile("/proc/\(pid)/\(file)") else { return nil }
        return bytes.split(separator: 0, omittingEmptySubsequences: true).map { String(decoding: $0, as: UTF8.self) }
    }

    static func environment(pid: Int32) -> [String: String]? {
        guard let entries = nulSeparated(pid: pid, "environ") else { return nil }
        var env: [String: String] = [:]
        for entry in entries {
            guard let eq = entry.firstIndex(of: "=") else { continue }
            env[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
        }
        return env
    }

    /// Seconds since boot (CLOCK_BOOTTIME), the clock `/proc/<pid>/stat` start times use.
    static func secondsSinceBoot() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Converts a wall-clock instant to seconds since boot.
    static func bootRelative(wallClock seconds: Double) -> Double {
        var real = timespec()
        clock_gettime(CLOCK_REALTIME, &real)
        let now = Double(real.tv_sec) + Double(real.tv_nsec) / 1e9
        return seconds - (now - secondsSinceBoot())
    }

    static func uptimeSeconds(pid: Int32) -> Double? {
        guard let stat = stat(pid: pid) else { return nil }
        return max(0, secondsSinceBoot() - Double(stat.startTicks) / clockTicksPerSecond)
    }

    static func isAliveAndNotZombie(pid: Int32) -> Bool {
        guard let stat = stat(pid: pid) else { return false }
        return stat.state != "Z" && stat.state != "X" && stat.state != "x"
    }

    /// Every numeric entry of /proc.
    static func allPIDs() -> [Int32] { directoryEntries("/proc").compactMap { Int32($0) } }
}
