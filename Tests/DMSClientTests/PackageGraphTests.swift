import Foundation
import TestSupport
import Testing

/// The client library is what an orchestrator written in Swift depends on: its dependency closure must not drag in
/// the agent's parts. Read from the manifest as SwiftPM resolves it (`swift package describe`).
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
    struct Description: Decodable { let targets: [Target] }

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

    @Test func theClientNeedsOnlyTheWireAndAMQP() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let description = try Self.describe(root)
        let targets = Dictionary(uniqueKeysWithValues: description.targets.map { ($0.name, $0) })
        let closure = Self.closure(of: "DMSClient", in: targets)
        #expect(closure.isSuperset(of: ["DMSWire", "AMQP"]))
        for forbidden in ["VaultFuse", "CCurl", "CoreMetrics", "Metrics", "ServiceLifecycle", "DMSAgentCore"] {
            #expect(!closure.contains(forbidden), "DMSClient depends on \(forbidden): \(closure.sorted())")
        }
    }
}
