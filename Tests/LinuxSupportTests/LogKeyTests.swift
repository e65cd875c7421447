import Foundation
import LinuxSupport
import Testing

/// One set of log keys: every module names its metadata through `LogKey`, snake_case, units in the values.
struct LogKeyTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    @Test func keysAreSnakeCaseWithoutUnits() throws {
        let text = try String(
            contentsOf: Self.sources.appendingPathComponent("LinuxSupport/LogKey.swift"), encoding: .utf8)
        let keys = text.matches(of: /static let \w+ = "([^"]+)"/).map { String($0.output.1) }
        #expect(keys.count > 40)
        for key in keys {
            #expect(key.wholeMatch(of: /[a-z]+(_[a-z]+)*/) != nil, "not snake_case: \(key)")
            #expect(!key.hasSuffix("_ms") && !key.hasSuffix("_s") && !key.hasSuffix("_seconds"), "a unit: \(key)")
        }
        #expect(Set(keys).count == keys.count, "a key twice")
    }

    @Test func noModuleSpellsAKeyOfItsOwn() throws {
        var offenders: [String] = []
        let files = FileManager.default.enumerator(atPath: Self.sources.path)
        while let file = files?.nextObject() as? String {
            guard file.hasSuffix(".swift") else { continue }
            let text = try String(contentsOf: Self.sources.appendingPathComponent(file), encoding: .utf8)
            for block in text.matches(of: /metadata: \[([^\]]*)\]/) where block.output.1.contains(/"[a-z_.]+":/) {
                offenders.append("\(file): \(block.output.1.prefix(60))")
            }
            if text.contains(/metadataKey: "/) { offenders.append("\(file): metadataKey literal") }
        }
        #expect(offenders.isEmpty, "\(offenders)")
    }

    @Test func durationsCarryTheirUnit() {
        #expect(LogValue.duration(.microseconds(12_300)) == "12.3ms")
        #expect(LogValue.duration(.milliseconds(4567)) == "4.56s")
    }
}
