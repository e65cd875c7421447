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
        if MountTable.fuseMount(at: path) != nil { return true }
        _ = poll(&pfd, 1, 100)
    }
    return false
}

func waitForUnmount(_ path: String) {
    while MountTable.mount(at: path) != nil { usleep(200) }
}
