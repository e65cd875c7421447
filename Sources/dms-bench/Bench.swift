import ArgumentParser
import Foundation

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dms-bench",
        abstract: "Prints the figures the issues ask for: manager, AMQP client (with pika beside it) and job bus.",
        discussion:
            "Run from the repository root, as root, with the test broker up (scripts/broker.sh start). Build with -c release."
    )

    @Argument(
        help:
            "manager, amqp, jobbus, all (these three), fleet (N agents on the 3-node cluster: footprint, then a node loss) or footprint."
    ) var suite: String = "all"
    @Option(help: "Broker URL.") var rabbitmqURL =
        ProcessInfo.processInfo.environment["DMS_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5682/"
    @Option(help: "Repository root (for scripts/).") var repo = FileManager.default.currentDirectoryPath
    @Option(help: "Spawn/kill rounds for the manager.") var rounds = 200
    @Option(help: "Messages for the AMQP throughput runs.") var messages = 20_000
    @Option(help: "Round trips for latency.") var roundTrips = 2_000
    @Option(help: "Mount+unmount cycles for the job bus.") var cycles = 300
    @Option(help: "Agents for the fleet.") var agents = 100
    @Option(help: "Status jobs the fleet run sends (half before, half during the node loss).") var fleetJobs = 400

    func run() async throws {
        if suite == "manager" || suite == "all" {
            try await ManagerBench.run(repo: repo, url: rabbitmqURL, rounds: rounds)
        }
        if suite == "amqp" || suite == "all" {
            try await AMQPBench.run(url: rabbitmqURL, repo: repo, messages: messages, roundTrips: roundTrips)
        }
        if suite == "jobbus" || suite == "all" {
            try await JobBusBench.run(url: rabbitmqURL, repo: repo, cycles: cycles)
        }
        if suite == "fleet" || suite == "footprint" { try await FleetFootprint.run(repo: repo, agents: agents) }
        if suite == "fleet" { try await FleetBench.run(repo: repo, agents: agents, jobs: fleetJobs) }
    }
}
