import DMSAgentCore
import DMSClient
import DMSNodeTools

/// Every exit status of dms-agent, and the one place the libraries' error codes become them (README, "Exit
/// statuses"). 0 is success; ArgumentParser exits 64 itself for an option it cannot parse.
enum ExitStatus {
    /// The operation failed (a local mount or unmount, a reply with status error).
    static let failure: Int32 = 1
    /// `submit`: the broker, the node's queue or its reply is missing.
    static let noAnswer: Int32 = 2
    /// Another agent holds the PID directory's lock.
    static let pidDirectoryLocked: Int32 = 3
    /// The metrics and health endpoint cannot listen where it was told to.
    static let cannotListen: Int32 = 5
    /// A setting the agent cannot use, or that the broker refuses for good (EX_USAGE).
    static let invalidConfiguration: Int32 = 64
    /// An AMQP I/O thread is wedged in a library call: crash-only, the supervisor restarts the agent (EX_SOFTWARE).
    static let ioStalled: Int32 = 70

    static func of(_ error: AgentError) -> Int32 {
        switch error.code {
        case .pidDirectoryLocked: return pidDirectoryLocked
        case .brokerRefusedConfiguration: return invalidConfiguration
        default: return failure
        }
    }

    static func of(_ error: LocalCommandError) -> Int32 {
        switch error.code {
        case .pidDirectoryLocked: return pidDirectoryLocked
        case .invalidSetting: return invalidConfiguration
        default: return failure
        }
    }

    static func of(_ error: DMSClientError) -> Int32 {
        error.code == .invalidURL ? invalidConfiguration : noAnswer
    }
}
