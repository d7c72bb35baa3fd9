import Foundation
import Histogram

/// What a run measured: printed as a readable summary, or with `--json` as
/// one JSON object with snake_case, sorted keys (for scripts and CI).
struct BenchReport: Codable, Equatable {
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
    /// The measured window, in seconds (shorter than asked when interrupted).
    var durationS: Double
    /// Replies received in the measured window, errors included.
    var ops: Int
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
    /// The first error any connection saw, such as `404 not_found: ...`, or a connection's ZeroMQ failure.
    var firstError: String?
    /// Whether SIGINT or SIGTERM ended the measurement early.
    var interrupted: Bool

    enum CodingKeys: String, CodingKey {
        case workload, section, endpoint, connections, depth, keys, products, ops, errors, timeouts, refused, interrupted
        case valueSize = "value_size"
        case warmupS = "warmup_s"
        case durationS = "duration_s"
        case opsPerS = "ops_per_s"
        case p50Ms = "p50_ms"
        case p90Ms = "p90_ms"
        case p99Ms = "p99_ms"
        case p999Ms = "p999_ms"
        case maxMs = "max_ms"
        case meanMs = "mean_ms"
        case firstError = "first_error"
    }
}

extension BenchReport {
    /// Merges the connections' results over a measured window of `measuredSeconds`.
    init(plan: BenchPlan, results: [BenchConnectionResult], measuredSeconds: Double, interrupted: Bool) {
        var latencies = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        for result in results { latencies.add(result.latencies) }
        let ops = results.reduce(0) { $0 + $1.ops }
        let recorded = latencies.totalCount > 0
        /// Microseconds to milliseconds; a whole number of microseconds has three decimals.
        func milliseconds(_ microseconds: UInt64) -> Double { recorded ? Double(microseconds) / 1_000 : 0 }

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
            durationS: (measuredSeconds * 1_000).rounded() / 1_000,
            ops: ops,
            opsPerS: measuredSeconds > 0 ? (Double(ops) / measuredSeconds * 10).rounded() / 10 : 0,
            p50Ms: milliseconds(latencies.valueAtPercentile(50)),
            p90Ms: milliseconds(latencies.valueAtPercentile(90)),
            p99Ms: milliseconds(latencies.valueAtPercentile(99)),
            p999Ms: milliseconds(latencies.valueAtPercentile(99.9)),
            maxMs: milliseconds(latencies.maxRecorded),
            meanMs: recorded ? (latencies.mean).rounded() / 1_000 : 0,
            errors: results.reduce(0) { $0 + $1.errors },
            timeouts: results.reduce(0) { $0 + $1.timeouts },
            refused: plan.workload.refusals ? results.reduce(0) { $0 + $1.refused } : nil,
            firstError: results.lazy.compactMap(\.firstError).first
                ?? results.lazy.compactMap(\.failure).first.map { "a connection failed: \($0)" },
            interrupted: interrupted)
    }

    /// Whether the run saw nothing but errors: the command then exits non-zero.
    var failedEntirely: Bool { ops == 0 || errors >= ops }

    // MARK: - Output

    /// The readable summary.
    var text: String {
        let ms = { (value: Double) in BenchFormat.fixed(value, 3) }
        var lines = [
            "\(workload) on section \(section) at \(endpoint)",
            "  connections   \(connections) x \(depth) in flight, "
                + (products.map { "\(BenchFormat.grouped(keys)) accounts, \(BenchFormat.grouped($0)) products" }
                    ?? "\(BenchFormat.grouped(keys)) keys, \(BenchFormat.grouped(valueSize))-byte values"),
            "  duration      \(BenchFormat.fixed(durationS, 2)) s measured after \(BenchFormat.fixed(warmupS, warmupS.rounded() == warmupS ? 0 : 1)) s of warm-up"
                + (interrupted ? " (interrupted)" : ""),
            "  ops           \(BenchFormat.grouped(ops)) (\(BenchFormat.grouped(Int(opsPerS.rounded()))) ops/s)",
            "  latency ms    p50 \(ms(p50Ms))  p90 \(ms(p90Ms))  p99 \(ms(p99Ms))  p99.9 \(ms(p999Ms))  max \(ms(maxMs))",
            "  errors        \(BenchFormat.grouped(errors))" + (timeouts > 0 ? " (\(BenchFormat.grouped(timeouts)) timeouts)" : ""),
        ]
        if let refused {
            lines.append("  refused       \(BenchFormat.grouped(refused)) (409 insufficient_funds or out_of_stock: in ops, not in errors)")
        }
        if let firstError {
            lines.append("  first error   \(firstError)")
        }
        return lines.joined(separator: "\n")
    }

    /// One JSON object on one line, keys sorted.
    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain numbers and strings cannot fail.
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
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
