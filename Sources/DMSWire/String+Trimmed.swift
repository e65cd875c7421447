extension StringProtocol {
    /// Without leading and trailing spaces, tabs, carriage returns and newlines (FoundationEssentials has no
    /// `trimmingCharacters`). `package`: the modules of this package share it; it is not exported to importers.
    package var trimmed: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
