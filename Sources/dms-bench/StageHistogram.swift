import Foundation

/// `dms_job_stage_seconds{stage}` as scraped from an agent: cumulative bucket counts per stage. The difference of two
/// scrapes is the jobs in between; p50 and p99 are read from it by linear interpolation inside the bucket.
struct StageHistogram {
    /// stage → (upper bound in seconds, cumulative count), in bound order; +Inf as `.infinity`.
    var buckets: [String: [(bound: Double, count: Double)]] = [:]

    init(scrape text: String) {
        for line in text.split(separator: "\n") where line.hasPrefix("dms_job_stage_seconds_bucket{") {
            guard let stage = Self.label("stage", in: line), let le = Self.label("le", in: line),
                let count = line.split(separator: " ").last.flatMap({ Double($0) })
            else { continue }
            let bound = le == "+Inf" ? Double.infinity : (Double(le) ?? .infinity)
            buckets[stage, default: []].append((bound, count))
        }
        for stage in buckets.keys { buckets[stage]!.sort { $0.bound < $1.bound } }
    }

    private init(buckets: [String: [(bound: Double, count: Double)]]) { self.buckets = buckets }

    private static func label(_ name: String, in line: Substring) -> String? {
        guard let start = line.range(of: "\(name)=\"") else { return nil }
        let rest = line[start.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    /// What was observed after `earlier`.
    func since(_ earlier: StageHistogram) -> StageHistogram {
        var out: [String: [(bound: Double, count: Double)]] = [:]
        for (stage, now) in buckets {
            let before = earlier.buckets[stage] ?? []
            out[stage] = now.map { bucket in
                (bucket.bound, bucket.count - (before.first { $0.bound == bucket.bound }?.count ?? 0))
            }
        }
        return StageHistogram(buckets: out)
    }

    /// The observations of both, as one histogram (windows summed).
    func adding(_ other: StageHistogram) -> StageHistogram {
        var out = buckets
        for (stage, series) in other.buckets {
            guard let mine = out[stage] else {
                out[stage] = series
                continue
            }
            out[stage] = mine.map { bucket in
                (bucket.bound, bucket.count + (series.first { $0.bound == bucket.bound }?.count ?? 0))
            }
        }
        return StageHistogram(buckets: out)
    }

    func count(_ stage: String) -> Double { buckets[stage]?.last?.count ?? 0 }

    /// The `q` quantile of `stage` in milliseconds; nil without observations.
    func quantile(_ q: Double, _ stage: String) -> Double? {
        guard let series = buckets[stage], let total = series.last?.count, total > 0 else { return nil }
        let rank = q * total
        var lower = 0.0
        var below = 0.0
        for bucket in series {
            if bucket.count >= rank {
                guard bucket.bound.isFinite else { return lower * 1000 }
                let inside = bucket.count - below
                let fraction = inside > 0 ? (rank - below) / inside : 0
                return (lower + (bucket.bound - lower) * fraction) * 1000
            }
            lower = bucket.bound.isFinite ? bucket.bound : lower
            below = bucket.count
        }
        return lower * 1000
    }
}
