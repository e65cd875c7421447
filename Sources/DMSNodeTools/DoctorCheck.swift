/// One finding of `dms-agent doctor`: what was checked, the verdict, what was seen and how to fix it.
package struct DoctorCheck: Encodable, Sendable {
    package enum Verdict: String, Encodable, Sendable {
        case ok, warn, fail
        package var label: String {
            switch self {
            case .ok: return "ok  "
            case .warn: return "warn"
            case .fail: return "FAIL"
            }
        }
    }
    package var check: String
    package var verdict: Verdict
    package var detail: String
    package var fix: String?

    init(check: String, verdict: Verdict, detail: String, fix: String? = nil) {
        self.check = check
        self.verdict = verdict
        self.detail = detail
        self.fix = fix
    }
}
