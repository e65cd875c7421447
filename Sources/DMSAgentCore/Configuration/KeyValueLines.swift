import DMSWire

/// `key = value` lines with their `[section]` (DEFAULT before any header) and line number; `#` and `;` start
/// comments. The config files and the s3vaultfuse environment file are read with it.
package enum KeyValueLines {
    package struct Line: Sendable, Equatable {
        package var section: String
        package var key: String
        package var value: String
        package var number: Int
    }

    package static func parse(_ text: String) -> [Line] {
        var section = "DEFAULT"
        var lines: [Line] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmed
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast())
                continue
            }
            guard let eq = line.firstIndex(of: "=") else { continue }
            lines.append(
                Line(
                    section: section, key: line[..<eq].trimmed, value: line[line.index(after: eq)...].trimmed,
                    number: index + 1))
        }
        return lines
    }
}
