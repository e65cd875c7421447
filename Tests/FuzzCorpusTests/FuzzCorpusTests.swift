import Foundation
import FuzzChecks
import Testing

/// Every committed fuzz input — the seeds, and each crasher a fuzzer found — through its target's invariants in
/// the normal suites: a crash fixed once stays fixed without libFuzzer.
@Suite struct FuzzCorpusTests {
    static let corpus: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path + "/Fuzz/Corpus"
    }()

    static var inputs: [(target: String, file: String)] {
        FuzzChecks.targets.keys.sorted().flatMap { target in
            ((try? FileManager.default.contentsOfDirectory(atPath: corpus + "/" + target)) ?? []).sorted().map {
                (target, $0)
            }
        }
    }

    @Test func everyTargetHasSeeds() {
        for target in FuzzChecks.targets.keys {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: Self.corpus + "/" + target)) ?? []
            #expect(!files.isEmpty, "Fuzz/Corpus/\(target) has no seed")
        }
    }

    @Test func everyCommittedInputKeepsItsTargetsInvariants() throws {
        var checked = 0
        for (target, file) in Self.inputs {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(Self.corpus)/\(target)/\(file)")))
            let check = try #require(FuzzChecks.targets[target])
            check(bytes)  // a broken invariant traps, naming the input's target
            checked += 1
        }
        #expect(checked >= FuzzChecks.targets.count)
    }
}
