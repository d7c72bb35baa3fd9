import Foundation
import Histogram

/// What one measured window gave: the grid's, or the relay's with the same fields.
struct BenchMeasurement: Equatable {
    /// The measured window, in seconds (shorter than asked when interrupted).
    var durationS: Double
    /// The open loop's total offered rate (requests per second); nil for the closed loop.
    var rateOffered: Double?
    /// Replies received in the measured window, errors included.
    var ops: Int
    /// The achieved rate: `ops` over the window.
    var opsPerS: Double
    var p50Ms: Double
    var p90Ms: Double
    var p99Ms: Double
    var p999Ms: Double
    var maxMs: Double
    var meanMs: Double
    /// Replies other than 200 in the measured window, plus requests lost to timeouts.
    var errors: Int
    /// Requests that got no reply within the client timeout (counted in `errors` too).
    var timeouts: Int
    /// `trade`, `place`: replies 409 (`insufficient_funds`, `out_of_stock`) in the measured window,
    /// counted in `ops` but not in `errors` (absent from the JSON of the other workloads).
    var refused: Int?
    /// Per operation of the workload (`mixed`: get and put), in the workload's order.
    var operations: [BenchOperationSummary]
    /// The share of the requests sent while measuring that went to the most requested key
    /// among keys 0 ..< 1024 (zipf's hottest; for uniform, about 1 / keys).
    var topKeyShare: Double
    /// That key's number.
    var topKey: Int?
    /// The first error any connection saw, such as `404 not_found: ...`, or a connection's ZeroMQ failure.
    var firstError: String?
    /// Whether SIGINT or SIGTERM ended the measurement early.
    var interrupted: Bool

    /// Whether the window saw nothing but errors.
    var failedEntirely: Bool { ops == 0 || errors >= ops }
}

/// One operation's share of a measurement.
struct BenchOperationSummary: Equatable {
    var name: String
    var ops: Int
    var errors: Int
    var p50Ms: Double
    var p99Ms: Double
}

/// The relay's run: its measurement and what its echo workers answered.
struct BenchRelayReport: Equatable {
    var measurement: BenchMeasurement
    /// Echo worker threads behind the relay.
    var workers: Int
    /// The payload bytes an echo worker replies with, per operation (sized from the grid's replies).
    var replyBytes: [String: Int]
}

/// What a run measured: printed as a readable summary (BenchReport+Text), or
/// with `--json` as one JSON object with snake_case, sorted keys (BenchReport+JSON).
struct BenchReport: Equatable {
    var workload: String
    var section: String
    var endpoint: String
    var connections: Int
    var depth: Int
    var keys: Int
    /// `trade`, `place`: the products picked from (absent from the JSON of the other workloads).
    var products: Int?
    var valueSize: Int
    var warmupS: Double
    /// `uniform` or `zipf`.
    var distribution: String
    /// zipf: the exponent s.
    var zipfExponent: Double?
    /// `mixed`: the percentage of gets.
    var readPercent: Int?
    /// `--direct`: the connections sent straight to the primaries' units.
    var direct = false
    /// The grid's measurement, flat at the top of the JSON.
    var grid: BenchMeasurement
    /// `--relay`: the same workload through a bare ZeroMQ relay.
    var relay: BenchRelayReport?
    /// Resident and peak resident memory of the grid's processes and the bench after the run.
    var memory: [BenchProcessMemory] = []

    /// Whether the grid's run saw nothing but errors: the command then exits non-zero.
    var failedEntirely: Bool { grid.failedEntirely }

    /// Grid ops/s over relay ops/s; nil without a relay run or when the relay did nothing.
    var relayRatio: Double? {
        guard let relay, relay.measurement.opsPerS > 0 else { return nil }
        return Self.ratio(grid.opsPerS, relay.measurement.opsPerS)
    }

    /// Grid p99 over relay p99; nil without a relay run or a relay p99.
    var relayP99Ratio: Double? {
        guard let relay, relay.measurement.p99Ms > 0 else { return nil }
        return Self.ratio(grid.p99Ms, relay.measurement.p99Ms)
    }

    private static func ratio(_ a: Double, _ b: Double) -> Double { (a / b * 1_000).rounded() / 1_000 }
}

extension BenchReport {
    /// The report's settings from `plan`, around the grid's measurement.
    init(plan: BenchPlan, grid: BenchMeasurement) {
        self.init(
            workload: plan.workload.name,
            section: plan.section,
            endpoint: plan.endpoint,
            connections: plan.connections,
            depth: plan.depth,
            keys: plan.keys,
            products: plan.products,
            valueSize: plan.valueSize,
            warmupS: plan.warmupSeconds,
            distribution: plan.distribution.name.rawValue,
            zipfExponent: plan.distribution.exponent,
            readPercent: plan.readPercent,
            direct: plan.direct,
            grid: grid)
    }
}

extension BenchMeasurement {
    /// Merges the connections' results over a measured window of `measuredSeconds`.
    init(plan: BenchPlan, results: [BenchConnectionResult], measuredSeconds: Double, interrupted: Bool) {
        var latencies = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        var operations: [BenchOperationSummary] = []
        for (kind, name) in plan.workload.operations.enumerated() {
            var histogram = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
            var ops = 0, errors = 0
            for result in results where kind < result.operations.count {
                histogram.add(result.operations[kind].latencies)
                ops += result.operations[kind].ops
                errors += result.operations[kind].errors
            }
            latencies.add(histogram)
            operations.append(BenchOperationSummary(
                name: name, ops: ops, errors: errors,
                p50Ms: Self.milliseconds(histogram, histogram.valueAtPercentile(50)),
                p99Ms: Self.milliseconds(histogram, histogram.valueAtPercentile(99))))
        }
        let ops = results.reduce(0) { $0 + $1.ops }
        let counted = min(plan.keys, BenchConnectionResult.countedKeys)
        var hits = Array(repeating: 0, count: counted)
        for result in results {
            for (key, count) in result.keyHits.enumerated() where key < counted { hits[key] += count }
        }
        let sent = results.reduce(0) { $0 + $1.keysSent }
        let top = hits.indices.max { hits[$0] < hits[$1] }

        self.init(
            durationS: (measuredSeconds * 1_000).rounded() / 1_000,
            rateOffered: plan.rate,
            ops: ops,
            opsPerS: measuredSeconds > 0 ? (Double(ops) / measuredSeconds * 10).rounded() / 10 : 0,
            p50Ms: Self.milliseconds(latencies, latencies.valueAtPercentile(50)),
            p90Ms: Self.milliseconds(latencies, latencies.valueAtPercentile(90)),
            p99Ms: Self.milliseconds(latencies, latencies.valueAtPercentile(99)),
            p999Ms: Self.milliseconds(latencies, latencies.valueAtPercentile(99.9)),
            maxMs: Self.milliseconds(latencies, latencies.maxRecorded),
            meanMs: latencies.totalCount > 0 ? (latencies.mean).rounded() / 1_000 : 0,
            errors: results.reduce(0) { $0 + $1.errors },
            timeouts: results.reduce(0) { $0 + $1.timeouts },
            refused: plan.workload.refusals ? results.reduce(0) { $0 + $1.refused } : nil,
            operations: operations,
            topKeyShare: sent > 0 ? (Double(top.map { hits[$0] } ?? 0) / Double(sent) * 1e6).rounded() / 1e6 : 0,
            topKey: sent > 0 ? top : nil,
            firstError: results.lazy.compactMap(\.firstError).first
                ?? results.lazy.compactMap(\.failure).first.map { "a connection failed: \($0)" },
            interrupted: interrupted)
    }

    /// Microseconds to milliseconds (0 for an empty histogram); a whole number of microseconds has three decimals.
    private static func milliseconds(_ histogram: Histogram<UInt64>, _ microseconds: UInt64) -> Double {
        histogram.totalCount > 0 ? Double(microseconds) / 1_000 : 0
    }
}

/// Number formatting for the summary and the progress line.
enum BenchFormat {
    /// `1234567` as `1,234,567`.
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (offset, digit) in digits.enumerated() {
            if offset > 0, (digits.count - offset) % 3 == 0 { grouped.append(",") }
            grouped.append(digit)
        }
        return value < 0 ? "-" + grouped : grouped
    }

    /// `value` with `decimals` digits after the point.
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }
}
