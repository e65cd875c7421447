import Foundation
import Testing

@testable import DMSWire

struct JSONParserTests {
    @Test func parsesWhatTheClientSendsAndDecodesEscapes() throws {
        let v = try JSONValue.parse(
            Array(
                #"{"a": [1, -2.5e3, true, false, null], "s": "t\u00e9\n\"\ud83d\ude00\/", "n": {"x": {}} , "z": 0}"#
                    .utf8))
        #expect(
            v
                == .object([
                    "a": [1, .double(-2500), true, false, nil], "s": .string("té\n\"😀/"), "n": ["x": .object([:])],
                    "z": 0,
                ]))
        #expect(try JSONValue.parse(Array("  \"top\"  ".utf8)) == "top")
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "tru", "nul", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"",
        "{\"a\" 1}", "[1 2]", "\"a\u{01}b\"", "1 2", "{\"a\":1}}", "NaN", "+1", "'x'",
    ])
    func rejectsMalformedJSON(text: String) {
        #expect(throws: (any Error).self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func rejectsInvalidUTF8AndDeepNesting() {
        #expect(throws: (any Error).self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: (any Error).self) {
            try JSONValue.parse(Array((String(repeating: "[", count: 65) + String(repeating: "]", count: 65)).utf8))
        }
        #expect(
            (try? JSONValue.parse(Array((String(repeating: "[", count: 60) + String(repeating: "]", count: 60)).utf8)))
                != nil)
    }

    @Test func serializedTextParsesBack() throws {
        let v: JSONValue = ["k": "q\"uote\\ \u{01} é", "n": [1, 2.5, nil, true], "o": [:]]
        #expect(try JSONValue.parse(v.serialized) == v)
    }
}
