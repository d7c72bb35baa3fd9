/// The readable summary on stdout.
extension BenchReport {
    var text: String {
        var lines = [
            "\(workload) on section \(section) at \(endpoint)",
            "  connections   \(connections) x \(depth) in flight, " + shape,
            "  client        " + (direct ? "partition-aware: straight to each key's primary unit (SGD02), the broker as fallback" : "through the broker"),
            "  duration      \(BenchFormat.fixed(grid.durationS, 2)) s measured after \(BenchFormat.fixed(warmupS, warmupS.rounded() == warmupS ? 0 : 1)) s of warm-up"
                + (grid.interrupted ? " (interrupted)" : ""),
        ]
        lines += Self.lines(grid, multipleOperations: readPercent != nil, zipf: zipfExponent != nil)
        if let relay {
            let sizes = relay.replyBytes.sorted { $0.key < $1.key }.map { "\($0.key) \(BenchFormat.grouped($0.value)) B" }.joined(separator: ", ")
            lines.append("relay: the same shape through a bare ZeroMQ relay in the bench (\(relay.workers) echo workers; replies \(sizes))")
            lines += Self.lines(relay.measurement, multipleOperations: readPercent != nil, zipf: zipfExponent != nil)
            let ops = relayRatio.map { BenchFormat.fixed($0, 2) } ?? "-"
            let p99 = relayP99Ratio.map { BenchFormat.fixed($0, 2) } ?? "-"
            lines.append("  grid / relay  ops/s \(ops)   p99 \(p99)")
        }
        if !memory.isEmpty {
            lines.append("memory after the run:")
            var rows = [["PROCESS", "PID", "RSS MB", "PEAK RSS MB"]]
            for process in memory {
                rows.append([process.name, String(process.pid),
                             process.rssMB.map { BenchFormat.fixed($0, 1) } ?? "-",
                             process.peakRssMB.map { BenchFormat.fixed($0, 1) } ?? "-"])
            }
            lines += Table.render(rows).split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }
            for process in memory {
                if let problem = process.problem { lines.append("  \(process.name) (pid \(process.pid)): \(problem)") }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Keys or accounts, the distribution and the mix.
    private var shape: String {
        var text = products.map { "\(BenchFormat.grouped(keys)) accounts, \(BenchFormat.grouped($0)) products" }
            ?? "\(BenchFormat.grouped(keys)) keys, \(BenchFormat.grouped(valueSize))-byte values"
        text += ", " + (zipfExponent.map { "zipf s=\($0)" } ?? distribution)
        if let readPercent { text += ", \(readPercent)% gets" }
        return text
    }

    /// The lines of one measurement.
    private static func lines(_ measured: BenchMeasurement, multipleOperations: Bool, zipf: Bool) -> [String] {
        let ms = { (value: Double) in BenchFormat.fixed(value, 3) }
        let achieved = "\(BenchFormat.grouped(Int(measured.opsPerS.rounded()))) ops/s"
        var lines: [String] = []
        if let rate = measured.rateOffered {
            lines.append("  loop          open: \(BenchFormat.grouped(Int(rate.rounded()))) ops/s offered, \(achieved) achieved; latency from the intended send time")
        } else {
            lines.append("  loop          closed: latency from the send")
        }
        lines.append("  ops           \(BenchFormat.grouped(measured.ops)) (\(achieved))")
        lines.append("  latency ms    p50 \(ms(measured.p50Ms))  p90 \(ms(measured.p90Ms))  p99 \(ms(measured.p99Ms))  p99.9 \(ms(measured.p999Ms))  max \(ms(measured.maxMs))")
        if multipleOperations {
            for operation in measured.operations {
                let padded = operation.name.padding(toLength: 12, withPad: " ", startingAt: 0)
                lines.append("    \(padded)\(BenchFormat.grouped(operation.ops)) ops, \(BenchFormat.grouped(operation.errors)) errors, p50 \(ms(operation.p50Ms))  p99 \(ms(operation.p99Ms))")
            }
        }
        lines.append("  errors        \(BenchFormat.grouped(measured.errors))" + (measured.timeouts > 0 ? " (\(BenchFormat.grouped(measured.timeouts)) timeouts)" : ""))
        if let refused = measured.refused {
            lines.append("  refused       \(BenchFormat.grouped(refused)) (409 insufficient_funds or out_of_stock: in ops, not in errors)")
        }
        if zipf, let key = measured.topKey {
            lines.append("  hottest key   \"\(key)\": \(BenchFormat.fixed(measured.topKeyShare * 100, 2))% of the requests")
        }
        if let firstError = measured.firstError {
            lines.append("  first error   \(firstError)")
        }
        return lines
    }
}
