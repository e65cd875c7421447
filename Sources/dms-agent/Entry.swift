import ArgumentParser
import Glibc

@main
enum Entry {
    static func main() async {
        // SIGHUP reopens the log file (LogReopener) and never ends the agent, also before that service starts.
        signal(SIGHUP, SIG_IGN)
        let arguments: [String]
        do {
            arguments = try ServerCommandLine.arguments(
                program: CommandLine.arguments.first ?? "", Array(CommandLine.arguments.dropFirst()))
        } catch {
            printError("\(error.description)\n")
            exit(64)
        }
        await DMSAgentCommand.main(arguments)
    }
}
