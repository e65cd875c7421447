import Foundation
import TestSupport
import Testing

/// The client library is what an orchestrator written in Swift depends on: its dependency closure must not drag in
/// the agent's parts, and nothing else is offered to other packages. Read from the manifest as SwiftPM resolves it (`swift package describe`).
struct PackageGraphTests {
    struct Target: Decodable {
        let name: String
        let targetDependencies: [String]?
        let productDependencies: [String]?
        enum CodingKeys: String, CodingKey {
            case name
            case targetDependencies = "target_dependencies"
            case productDependencies = "product_dependencies"
        }
    }
    struct Product: Decodable {
        let name: String
        let type: [String: [String]?]
    }
    struct Description: Decodable {
        let targets: [Target]
        let products: [Product]
    }

    static func closure(of name: String, in targets: [String: Target]) -> Set<String> {
        var seen: Set<String> = []
        var pending = [name]
        while let next = pending.popLast() {
            guard let target = targets[next] else { continue }
            for dependency in (target.targetDependencies ?? []) + (target.productDependencies ?? [])
            where seen.insert(dependency).inserted {
                pending.append(dependency)
            }
        }
        return seen
    }

    /// `swift package describe` with a scratch path of its own, so it does not wait for the lock of the running build.
    /// Through `Proc.shell` (posix_spawn): `Foundation.Process` leaks a weak reference per run under ASan.
    static func describe(_ root: URL) throws -> Description {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("dms-describe-\(getpid())")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let result = Proc.shell(
            "cd '\(root.path)' && swift package --scratch-path '\(scratch.path)' describe --type json 2>/dev/null")
        try #require(result.status == 0, "swift package describe failed: \(result.output.prefix(500))")
        return try JSONDecoder().decode(Description.self, from: Data(result.output.utf8))
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func theClientNeedsOnlyTheWireAndAMQP() throws {
        let description = try Self.describe(Self.root)
        let targets = Dictionary(uniqueKeysWithValues: description.targets.map { ($0.name, $0) })
        let closure = Self.closure(of: "DMSClient", in: targets)
        #expect(closure.isSuperset(of: ["DMSWire", "AMQP"]))
        for forbidden in ["VaultFuse", "CCurl", "CoreMetrics", "Metrics", "ServiceLifecycle", "DMSAgentCore"] {
            #expect(!closure.contains(forbidden), "DMSClient depends on \(forbidden): \(closure.sorted())")
        }
    }

    /// Other packages may build on the wire and the client; the agent's modules are its own.
    @Test func theProductsAreTheWireTheClientAndTheExecutables() throws {
        let products = try Self.describe(Self.root).products
        let libraries = products.filter { $0.type.keys.contains("library") }.map(\.name)
        let executables = products.filter { $0.type.keys.contains("executable") }.map(\.name)
        #expect(Set(libraries) == ["DMSWire", "DMSClient"])
        #expect(Set(executables.filter { !$0.hasPrefix("fuzz-") }) == ["dms-agent", "dms-bench"])
    }

    /// What crosses the agent's own modules is `package`: a `public` declaration outside DMSWire and DMSClient
    /// would say "for users" of something no product exports.
    @Test func onlyTheWireAndTheClientDeclarePublicAPI() throws {
        let sources = Self.root.appendingPathComponent("Sources")
        var offenders: [String] = []
        let modules = try FileManager.default.contentsOfDirectory(atPath: sources.path)
        for module in modules where !["DMSWire", "DMSClient"].contains(module) && !module.hasPrefix("C") {
            let folder = sources.appendingPathComponent(module)
            guard let files = FileManager.default.enumerator(atPath: folder.path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                where line.trimmingCharacters(in: .whitespaces).hasPrefix("public ") {
                    offenders.append("\(module)/\(file):\(number + 1)")
                }
            }
        }
        #expect(offenders.isEmpty, "public outside the products: \(offenders)")
    }
}
