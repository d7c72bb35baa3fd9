import ArgumentParser
import Foundation
import GridRuntime

/// `spacegrid bench`: a closed-loop load generator with latency percentiles.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the grid: throughput and latency of a workload, in a closed loop.",
        discussion: """
            Each connection runs on its own thread and keeps --depth requests in flight:
            it sends that many, then one more for every reply. Keys are "0" ... "K-1",
            picked uniformly at random. Before a `get` run the keys are stored with puts.
            Replies during the warm-up are not counted. Latency runs from a request's send
            to its reply. Errors are replies other than 200 (a 404 on `get` included) and
            requests lost when a connection hears nothing for --timeout milliseconds.

            Progress goes to stderr once a second; the summary (or, with --json, one JSON
            object) to stdout. Exits 3 when the grid does not answer, 2 when the section is
            unknown, the preload fails or every request failed, 130 when interrupted before
            the measurement began (an interrupt during it prints what was measured).

            Example, with `spacegrid up topologies/single.yaml` running:
              spacegrid bench put --broker tcp://127.0.0.1:5580 --section kv --duration 3
            """)

    @Argument(help: ArgumentHelp("What to measure.", valueName: "workload"))
    var workload: BenchWorkloadName

    @Option(help: "Connections, each on its own thread (1...1024).")
    var connections = 8

    @Option(help: "Requests in flight per connection (1...10000).")
    var depth = 16

    @Option(help: ArgumentHelp("Seconds to measure.", valueName: "seconds"))
    var duration = 10.0

    @Option(help: ArgumentHelp("Seconds to run before measuring; not counted.", valueName: "seconds"))
    var warmup = 2.0

    @Option(help: "How many distinct keys (\"0\" ... \"K-1\").")
    var keys = 100_000

    @Option(help: ArgumentHelp("Bytes per value (0...1000000).", valueName: "bytes"))
    var valueSize = 100

    @Option(help: "The section to run against.")
    var section = "customer"

    @Option(help: "Seed for the key choice (default: a new one each run).")
    var seed: UInt64?

    @Flag(help: "Print the summary as one JSON object.")
    var json = false

    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard (1...1_024).contains(connections) else { throw ValidationError("--connections must be between 1 and 1024, got \(connections)") }
        guard (1...10_000).contains(depth) else { throw ValidationError("--depth must be between 1 and 10000, got \(depth)") }
        guard duration.isFinite, duration > 0 else { throw ValidationError("--duration must be a positive number of seconds, got \(duration)") }
        guard warmup.isFinite, warmup >= 0 else { throw ValidationError("--warmup must be zero or a positive number of seconds, got \(warmup)") }
        guard keys >= 1 else { throw ValidationError("--keys must be at least 1, got \(keys)") }
        guard (0...1_000_000).contains(valueSize) else { throw ValidationError("--value-size must be between 0 and 1000000 bytes, got \(valueSize)") }
        guard !section.isEmpty else { throw ValidationError("--section must not be empty") }
    }

    func run() throws {
        ProcessSignals.install()
        let plan = BenchPlan(
            workload: workload.workload(valueSize: valueSize),
            section: section,
            endpoint: client.endpoint,
            connections: connections,
            depth: depth,
            keys: keys,
            valueSize: valueSize,
            warmupSeconds: warmup,
            durationSeconds: duration,
            timeoutMilliseconds: client.timeout,
            seed: seed ?? UInt64.random(in: .min ... .max))
        let report: BenchReport
        do {
            report = try BenchRun(plan: plan, progress: BenchProgress()).execute()
        } catch {
            FileHandle.standardError.write(Data("spacegrid: error: \(error.message)\n".utf8))
            throw ExitCode(error.exitCode)
        }
        print(json ? report.json : report.text)
        if report.failedEntirely { throw ExitCode(2) }
    }
}
