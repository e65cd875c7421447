import DMSAgentCore
import DMSWire

/// One finding of `dms-agent doctor`: what was checked, the verdict, what was seen and how to fix it.
public struct DoctorCheck: Encodable, Sendable {
    public enum Verdict: String, Encodable, Sendable {
        case ok, warn, fail
        public var label: String {
            switch self {
            case .ok: return "ok  "
            case .warn: return "warn"
            case .fail: return "FAIL"
            }
        }
    }
    public var check: String
    public var verdict: Verdict
    public var detail: String
    public var fix: String?

    init(check: String, verdict: Verdict, detail: String, fix: String? = nil) {
        self.check = check
        self.verdict = verdict
        self.detail = detail
        self.fix = fix
    }
}
