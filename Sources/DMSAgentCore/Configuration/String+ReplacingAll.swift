extension String {
    /// Every occurrence of `target` replaced by `replacement`, compared as bytes.
    func replacingAll(_ target: String, with replacement: String) -> String {
        let haystack = Array(utf8)
        let needle = Array(target.utf8)
        guard !needle.isEmpty, haystack.count >= needle.count else { return self }
        var out: [UInt8] = []
        out.reserveCapacity(haystack.count)
        var i = 0
        while i < haystack.count {
            if i + needle.count <= haystack.count, haystack[i] == needle[0],
                Array(haystack[i..<(i + needle.count)]) == needle
            {
                out.append(contentsOf: replacement.utf8)
                i += needle.count
            } else {
                out.append(haystack[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
