import CLinuxProcess
import Glibc

/// Runs a short helper command (umount helpers, mount) and waits for it. Never for s3vaultfuse.
package enum CommandRunner {
    /// The status a command gets when its deadline passed (as timeout(1) reports it).
    package static let timedOut: Int32 = 124

    /// How a helper command ended.
    package struct Result: Sendable, Equatable {
        /// The exit status; 128 + the signal when a signal ended it; `timedOut` past its deadline; -1 when it could
        /// not be started.
        package var status: Int32
        /// stdout and stderr together, the first 64 KiB.
        package var output: String
        package var succeeded: Bool { status == 0 }
    }

    /// Runs a helper command, collecting its output. With a `deadline` the command runs in a session
    /// of its own and, past the deadline, that whole group gets SIGTERM, then SIGKILL 2 s later (a `mount -t nfs`
    /// to a dead server must not hold its target and a thread forever); the result is `timedOut`. The group is
    /// signalled while its leader is our unreaped child, so its id cannot have been reused.
    @discardableResult
    package static func run(
        _ path: String, _ arguments: [String], environment: [String] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        deadline: Duration? = nil
    ) -> Result {
        var fds: [Int32] = [-1, -1]
        guard dms_pipe_cloexec(&fds) == 0 else { return Result(status: -1, output: "pipe: \(Errno(errno))") }
        let argv = [path] + arguments
        let spawned = Spawn.start(
            path: path, argv: argv, environment: environment, stdout: fds[1], stderr: fds[1],
            newSession: deadline != nil)
        close(fds[1])
        defer { close(fds[0]) }
        let pid: pid_t
        switch spawned {
        case .success(let child): pid = child
        case .failure(let error): return Result(status: -1, output: "\(path): \(error)")
        }
        var collected: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let end = deadline.map { Deadline(after: $0) }
        var expired = false
        while true {
            if let end {
                if end.hasPassed {
                    expired = true
                    break
                }
                var pfd = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, max(1, min(1000, end.remainingMilliseconds))) == 0 { continue }
            }
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            if collected.count < 65536 { collected.append(contentsOf: buffer[0..<n]) }
        }
        var status: Int32 = 0
        if expired {
            kill(-pid, SIGTERM)
            for _ in 0..<20 where waitpid(pid, &status, WNOHANG) == 0 { usleep(100_000) }
            kill(-pid, SIGKILL)
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let note = "\(path) timed out after \(deadline?.components.seconds ?? 0) s and was stopped"
            return Result(
                status: timedOut, output: (String(decoding: collected, as: UTF8.self) + "\n" + note).trimmingNewlines)
        }
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = String(decoding: collected, as: UTF8.self)
        if status & 0x7f == 0 { return Result(status: (status >> 8) & 0xff, output: output) }
        return Result(status: 128 + (status & 0x7f), output: output)
    }
}

extension String {
    fileprivate var trimmingNewlines: String {
        var s = Substring(self)
        while s.first == "\n" { s = s.dropFirst() }
        while s.last == "\n" { s = s.dropLast() }
        return String(s)
    }
}
