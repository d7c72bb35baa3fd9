import Foundation

/// `--json`: one object on one line, snake_case keys, sorted.
///
/// The grid's measurement sits at the top level (as before `--relay`
/// existed); the relay's has the same keys inside `relay`. Keys that only
/// some runs have (`products`, `refused`, `zipf_exponent`, `read_percent`)
/// are absent when they do not apply; `rate_offered` is null in the closed
/// loop, and `relay`, `relay_ratio` and `relay_p99_ratio` are null without `--relay`.
extension BenchReport: Encodable {
    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain numbers and strings cannot fail.
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: BenchJSONKey.self)
        try container.encode(workload, forKey: "workload")
        try container.encode(section, forKey: "section")
        try container.encode(endpoint, forKey: "endpoint")
        try container.encode(connections, forKey: "connections")
        try container.encode(depth, forKey: "depth")
        try container.encode(keys, forKey: "keys")
        try container.encodeIfPresent(products, forKey: "products")
        try container.encode(valueSize, forKey: "value_size")
        try container.encode(warmupS, forKey: "warmup_s")
        try container.encode(distribution, forKey: "distribution")
        try container.encodeIfPresent(zipfExponent, forKey: "zipf_exponent")
        try container.encodeIfPresent(readPercent, forKey: "read_percent")
        try container.encode(direct, forKey: "direct")
        try grid.encode(into: &container)
        if let relay {
            var nested = container.nestedContainer(keyedBy: BenchJSONKey.self, forKey: "relay")
            try relay.measurement.encode(into: &nested)
            try nested.encode(relay.workers, forKey: "workers")
            try nested.encode(relay.replyBytes, forKey: "reply_bytes")
        } else {
            try container.encodeNil(forKey: "relay")
        }
        try container.encode(relayRatio, forKey: "relay_ratio")
        try container.encode(relayP99Ratio, forKey: "relay_p99_ratio")
        var processes = container.nestedUnkeyedContainer(forKey: "memory")
        for process in memory {
            var entry = processes.nestedContainer(keyedBy: BenchJSONKey.self)
            try entry.encode(process.name, forKey: "name")
            try entry.encode(process.pid, forKey: "pid")
            try entry.encode(process.rssMB, forKey: "rss_mb")
            try entry.encode(process.peakRssMB, forKey: "peak_rss_mb")
            try entry.encodeIfPresent(process.problem, forKey: "problem")
        }
    }
}

extension BenchMeasurement {
    /// Writes the measurement's keys into `container` (the report's top level, or `relay`).
    func encode(into container: inout KeyedEncodingContainer<BenchJSONKey>) throws {
        try container.encode(durationS, forKey: "duration_s")
        try container.encode(rateOffered, forKey: "rate_offered")
        try container.encode(ops, forKey: "ops")
        try container.encode(opsPerS, forKey: "ops_per_s")
        try container.encode(p50Ms, forKey: "p50_ms")
        try container.encode(p90Ms, forKey: "p90_ms")
        try container.encode(p99Ms, forKey: "p99_ms")
        try container.encode(p999Ms, forKey: "p999_ms")
        try container.encode(maxMs, forKey: "max_ms")
        try container.encode(meanMs, forKey: "mean_ms")
        try container.encode(errors, forKey: "errors")
        try container.encode(timeouts, forKey: "timeouts")
        try container.encodeIfPresent(refused, forKey: "refused")
        try container.encode(topKeyShare, forKey: "top_key_share")
        try container.encode(topKey, forKey: "top_key")
        try container.encodeIfPresent(firstError, forKey: "first_error")
        try container.encode(interrupted, forKey: "interrupted")
        var operations = container.nestedContainer(keyedBy: BenchJSONKey.self, forKey: "operations")
        for operation in self.operations {
            var entry = operations.nestedContainer(keyedBy: BenchJSONKey.self, forKey: BenchJSONKey(operation.name))
            try entry.encode(operation.ops, forKey: "ops")
            try entry.encode(operation.errors, forKey: "errors")
            try entry.encode(operation.p50Ms, forKey: "p50_ms")
            try entry.encode(operation.p99Ms, forKey: "p99_ms")
        }
    }
}

/// A JSON key by its name, so that the report's keys read as they appear in the output.
struct BenchJSONKey: CodingKey, ExpressibleByStringLiteral {
    let stringValue: String
    var intValue: Int? { nil }

    init(_ name: String) { stringValue = name }
    init(stringLiteral name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
