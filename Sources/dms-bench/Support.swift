import Foundation
import LinuxSupport
import VaultFuse

/// Milliseconds on the one monotonic clock.
func now() -> Double { Double(monotonicNanos()) / 1e6 }

func rssKB(pid: Int32 = getpid()) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
}

func line(_ name: String, _ value: String) { print(name.padding(toLength: 58, withPad: " ", startingAt: 0) + value) }

/// Spawns a process with the given environment and stdout/stderr to /dev/null.
func spawn(_ path: String, _ args: [String], env: [String]) -> Int32 {
    let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
    defer { close(null) }
    let result = Spawn.start(
        path: path, argv: [path] + args, environment: env, stdout: null, stderr: null, newSession: false)
    return (try? result.get()) ?? -1
}

func reap(_ pid: Int32) {
    var status: Int32 = 0
    waitpid(pid, &status, 0)
}

func shell(_ command: String) -> String {
    CommandRunner.run(
        "/bin/sh", ["-c", command],
        environment: ["PATH=\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")"]
    ).output
}

/// Waits (polling the mount table's change signal through poll(2)) until `path` is a FUSE mount.
func waitForFUSEMount(_ path: String, timeoutMS: Double = 10_000) -> Bool {
    let fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)
    defer { close(fd) }
    let end = now() + timeoutMS
    var pfd = pollfd(fd: fd, events: Int16(POLLPRI), revents: 0)
    _ = poll(&pfd, 1, 0)
    while now() < end {
        // The agent's own check (statx, then statmount): the fuse-alone reference pays what the agent pays.
        if MountTable.hasFUSEMount(at: path) { return true }
        _ = poll(&pfd, 1, 100)
    }
    return false
}

func waitForUnmount(_ path: String) {
    while MountTable.mount(at: path) != nil { usleep(200) }
}

/// user + system CPU seconds a process has used so far (`/proc/<pid>/stat`, fields 14 and 15); 0 when unreadable.
func cpuSeconds(pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return 0 }
    // Fields after the command name start at field 3 (state); utime and stime are fields 14 and 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// The PID of the process listening on TCP `port` of this machine (the test broker), from ss(8).
func listenerPID(port: Int) -> Int32? {
    let out = shell("ss -Hltnp 'sport = :\(port)'")
    guard let range = out.range(of: #"pid=[0-9]+"#, options: .regularExpression) else { return nil }
    return Int32(out[range].dropFirst(4))
}

/// One HTTP GET to 127.0.0.1:`port`; the body, or "" on failure.
func httpGet(port: Int, path: String) -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { return "" }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += chunk[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    return text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
}

/// Voluntary and involuntary context switches of every thread of a process so far (`/proc/<pid>/task/*/status`):
/// an idle process's switches are its wake-ups.
/// Voluntary and involuntary context switches of each thread of `pid`, by thread id: a thread that exits between two
/// samples takes its count with it, so wake-ups are the sum over the threads present in both.
func contextSwitches(pid: Int32) -> [String: Int] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    var byThread: [String: Int] = [:]
    for task in tasks {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8) else {
            continue
        }
        for line in status.split(separator: "\n") where line.contains("ctxt_switches:") {
            byThread[task, default: 0] +=
                Int(line.split(separator: "\t").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
        }
    }
    return byThread
}

/// Context switches between two samples of `contextSwitches`, over the threads present in both.
func switchesBetween(_ before: [String: Int], _ after: [String: Int]) -> Int {
    before.reduce(0) { sum, thread in sum + max(0, (after[thread.key] ?? thread.value) - thread.value) }
}
