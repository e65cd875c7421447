package import FoundationEssentials

extension JSONEncoder {
    /// Indented, keys sorted: what the commands print with `--json`.
    package static var pretty: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }
}
