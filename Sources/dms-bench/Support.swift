import Foundation
import LinuxSupport
import VaultFuse

struct Samples {
    var values: [Double] = []  // milliseconds
    mutating func add(_ ms: Double) { values.append(ms) }
    func percentile(_ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }
    var p50: Double { percentile(0.5) }
    var p99: Double { percentile(0.99) }
    var summary: String { String(format: "p50 %.2f ms  p99 %.2f ms  (n=%d)", p50, p99, values.count) }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1e6
}

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
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv = ([path] + args).map { strdup($0) } + [nil]
    let envp = env.map { strdup($0) } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    posix_spawn(&pid, path, &actions, nil, argv, envp)
    return pid
}

func reap(_ pid: Int32) {
    var status: Int32 = 0
    waitpid(pid, &status, 0)
}

func shell(_ command: String) -> String {
    var out = ""
    CommandRunner.run(
        "/bin/sh", ["-c", command], output: &out,
        environment: ["PATH=\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")"])
    return out
}

/// Waits (polling the mount table's change signal through poll(2)) until `path` is a FUSE mount.
func waitForFUSEMount(_ path: String, timeoutMS: Double = 10_000) -> Bool {
    let fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)
    defer { close(fd) }
    let end = now() + timeoutMS
    var pfd = pollfd(fd: fd, events: Int16(POLLPRI), revents: 0)
    _ = poll(&pfd, 1, 0)
    while now() < end {
        if MountTable.fuseMount(at: path) != nil { return true }
        _ = poll(&pfd, 1, 100)
    }
    return false
}

func waitForUnmount(_ path: String) {
    while MountTable.mount(at: path) != nil { usleep(200) }
}
