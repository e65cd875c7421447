public import FoundationEssentials
import Glibc

/// RFC 3339 in UTC with milliseconds, the events' `time`. Hand-rolled: ISO8601DateFormatter builds an ICU formatter
/// on every call, which was 40 % of the agent's CPU under load.
public enum RFC3339 {
    public static func string(from date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        var whole = time_t(seconds.rounded(.down))
        let millis = Int((seconds - Double(whole)) * 1000)
        var parts = tm()
        gmtime_r(&whole, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let s = String(value)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let day = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
        let time = "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))"
        return "\(day)T\(time)Z"
    }
}
