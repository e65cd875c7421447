import FoundationEssentials
import Glibc

package enum TargetID {
    package static func isValid(_ id: String) -> Bool { (try? validate(id)) != nil }

    /// `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`, and not `.` or `..`. Checked before any path is built.
    package static func validate(_ id: String) throws(VaultFuseError) {
        let bytes = Array(id.utf8)
        func allowed(_ b: UInt8, first: Bool) -> Bool {
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122)
                || (!first && (b == 46 || b == 95 || b == 45))
        }
        guard (1...128).contains(bytes.count), allowed(bytes[0], first: true),
            bytes.dropFirst().allSatisfy({ allowed($0, first: false) }), id != ".", id != ".."
        else {
            let shown = bytes.count > 64 ? String(decoding: bytes.prefix(64), as: UTF8.self) + "…" : id
            throw VaultFuseError(
                .invalidTargetID,
                "Invalid target id \(shown.debugDescription): expected 1-128 of [A-Za-z0-9._-], starting with a letter or digit"
            )
        }
    }
}
