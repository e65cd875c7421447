import ArgumentParser
import DMSNodeTools
import FoundationEssentials

extension DMSAgentCommand {
    struct Doctor: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check what makes an agent fail silently: broker, queue, node id, directories, FUSE, binary, port.",
            discussion: """
                Resolves the configuration exactly as 'run' does and changes nothing (passive declares only). Each \
                check prints ok, warn or FAIL with what it found and, when not ok, the fix in one line. Exits 0 when \
                no check fails.
                """)

        @OptionGroup var agent: AgentOptions
        @Flag(help: "Print JSON: [{check, verdict, detail, fix}].") var json = false

        func run() async throws {
            let r = try agent.resolver()
            let config = try agent.configuration(r)
            let listen = agent.metricsListen(r)
            let checks = await NodeDoctor(configuration: config, metricsListen: listen).checks()
            if json {
                print(String(decoding: try JSONEncoder.pretty.encode(checks), as: UTF8.self))
            } else {
                for c in checks {
                    print("\(c.verdict.label)  \(c.check): \(c.detail)")
                    if let fix = c.fix { print("      fix: \(fix)") }
                }
            }
            if checks.contains(where: { $0.verdict == .fail }) { throw ExitCode.failure }
        }
    }
}
