import Foundation

struct Samples {
    var values: [Double] = []  // milliseconds
    mutating func add(_ ms: Double) { values.append(ms) }
    func percentile(_ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }
    var p50: Double { percentile(0.5) }
    var p99: Double { percentile(0.99) }
    var summary: String { String(format: "p50 %.2f ms  p99 %.2f ms  (n=%d)", p50, p99, values.count) }
}
