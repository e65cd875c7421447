import CLinuxProcess
import FoundationEssentials
import Glibc

/// How a child ended, as waitid(2) reports it (the CLI's exit statuses are `dms-agent`'s `ExitStatus`).
package struct TerminationStatus: Sendable, Equatable, CustomStringConvertible {
    package var exitCode: Int32?
    package var signal: Int32?

    init(siCode: Int32, status: Int32) {
        if siCode == Int32(CLD_EXITED) { exitCode = status } else { signal = status }
    }

    package var description: String {
        if let exitCode { return "exit status \(exitCode)" }
        if let signal { return "killed by signal \(signal)" }
        return "exited"
    }
}
