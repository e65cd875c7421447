import CLinuxProcess
import Glibc

package enum Spawn {
    /// posix_spawn through the C shim: new session on request, stdin /dev/null, only the given environment.
    package static func start(
        path: String, argv: [String], environment: [String], stdout: Int32, stderr: Int32,
        newSession: Bool
    ) -> Result<Int32, Errno> {
        var cArgv = argv.map { strdup($0) } + [nil]
        var cEnv = environment.map { strdup($0) } + [nil]
        defer {
            cArgv.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = dms_spawn(path, &cArgv, &cEnv, stdout, stderr, newSession ? 1 : 0, &pid)
        return rc == 0 ? .success(pid) : .failure(Errno(rc))
    }
}
