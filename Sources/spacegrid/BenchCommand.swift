import ArgumentParser
import Foundation
import GridRuntime

/// `spacegrid bench`: a load generator with latency percentiles, closed or open loop.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the grid: throughput and latency of a workload, in a closed or an open loop.",
        usage: """
            spacegrid bench <workload> [--connections <n>] [--depth <d>] [--duration <seconds>] [--rate <ops-per-s>] [--json]
            spacegrid bench <workload> [<options>]
            """,
        discussion: """
            The connections are spread over --threads driver threads (default 2, fewer
            when there are fewer connections); each thread owns its connections' sockets
            and waits for all of them in one zmq_poll, as redis-benchmark drives its
            connections from one event loop, so the bench takes little CPU from the grid
            it measures. Replies during the warm-up are not counted. Errors are replies
            other than 200 (a 404 on `get` included) and requests lost when a connection
            hears nothing for --timeout milliseconds with requests in flight.

            Closed loop (the default): each connection keeps --depth requests in flight,
            sending one more for every reply. Latency runs from a request's send to its
            reply. This measures the most the grid does, but a slow reply also holds back
            the requests behind it, so its latencies flatter a saturated grid.

            Open loop (--rate): the connections together offer OPS_PER_S requests a second,
            each on a fixed schedule (connection i sends request k at t0 + k / (rate /
            connections), the connections offset so the sends interleave), whatever the
            replies do, with at most --depth in flight. When the limit is reached the send
            waits, but its latency still runs from its intended send time, so queueing is
            never hidden (coordinated-omission correction). The summary shows the offered
            and the achieved rate; achieved well below offered means the grid (or the
            bench) fell behind, and requests still unsent at the end are in neither the
            ops nor the percentiles. The bench's own timing is good to about 0.2 ms.

            get, put: keys "0" ... "K-1" of --section. Before a `get` run the keys are
            stored with puts.
            mixed: gets and puts over the same keys, a get with probability
            --read-percent (default 80); the keys are stored first, and the summary
            shows the count and latency of each operation.

            --distribution picks the keys (for trade and place: the accounts): uniform
            (the default), or zipf, where key k is picked with a probability proportional
            to 1 / (k + 1)^s (--zipf-exponent, default 0.99): key "0" is the hottest.
            The JSON's `top_key_share` is the share of requests sent to the most requested
            of keys 0 ... 1023.

            trade, place: over accounts "0" ... "N-1" (--accounts) and products P0 ...
            P(M-1) (--products), which are stored first as `spacegrid load` does (balance
            1,000,000 cents, price 1,000 cents, stock 1,000,000; progress on stderr)
            unless --no-load says they are there already. `trade` sends `customer trade
            {"amount":1,"stock":"P<k>"}` for an account and a random product; `place` sends
            `order place {"customer":"<n>","symbol":"P<k>","quantity":1}` under a new
            order id `o-<connection>-<sequence>-<run nonce>`. A 409 reply
            (insufficient_funds, out_of_stock) counts as `refused`, not as an error.

            --direct: each connection is partition-aware: it reads the partition
            table from the broker (`grid status`) and sends each request of a
            hash-partitioned section straight to the unit leading the key's
            partition, which checks the partition and epoch (PROTOCOL.md 1.6); a
            request the unit refuses (421, 503) goes again through the broker.
            Workflows (`place`) always go through the broker. A direct connection
            has a socket for the broker and one per unit; the driver thread polls
            them all with its other connections'.

            --relay: before measuring the grid (after its preload), the same run
            (connections, driver threads, depth, rate, warm-up, duration, request
            frames) goes through a bare ZeroMQ relay inside the bench: one thread moving
            messages between a ROUTER for the clients and a ROUTER for --relay-workers
            echo worker threads (default: as many as the section has units), which
            answer at once with a reply as big as the grid's (sized from 64 real
            requests of the workload sent to the grid first). The summary shows both and
            the ratio grid / relay of ops/s and of p99: how close the grid comes to what
            ZeroMQ alone does here.

            After the run, the resident and peak resident memory (VmRSS, VmHWM from
            /proc/<pid>/status, MB of 2^20 bytes) of the broker, every unit, the mirror
            and the bench itself, with the pids from the broker's status. A pid that is
            not a spacegrid process on this machine (the grid runs elsewhere) is named
            as not readable.

            Progress goes to stderr once a second; the summary (or, with --json, one JSON
            object: workload, connections, depth, duration_s, rate_offered (null in the
            closed loop), ops, ops_per_s, p50_ms, p90_ms, p99_ms, p999_ms, max_ms, errors,
            operations, top_key_share, relay, relay_ratio, memory, ...) to stdout. Exits 2
            for bad options, 3 when the grid does not answer, 2 when the section is
            unknown, the preload or load fails or every request failed, 130 when
            interrupted before the measurement began (an interrupt during it prints what
            was measured).

            Examples, with `spacegrid up` running:
              spacegrid bench get --connections 8 --depth 16 --duration 10
              spacegrid bench get --connections 4 --depth 8 --duration 5 --rate 5000 --json
              spacegrid bench mixed --read-percent 95 --distribution zipf --duration 5
              spacegrid bench put --duration 3 --relay
              spacegrid bench trade --accounts 100000 --products 100 --json
              spacegrid bench place --no-load --accounts 1000000
            """)

    @Argument(help: ArgumentHelp("What to measure: get, put, mixed, trade or place.", valueName: "workload"))
    var workload: BenchWorkloadName

    @Option(help: "Connections, spread over the --threads driver threads (1...1024).")
    var connections = 8

    @Option(help: ArgumentHelp("Driver threads, each multiplexing its share of the connections (1...64; default 2, at most one per connection).", valueName: "n"))
    var threads: Int?

    @Option(help: "Requests in flight per connection, at most (1...10000).")
    var depth = 16

    @Option(help: ArgumentHelp("Seconds to measure.", valueName: "seconds"))
    var duration = 10.0

    @Option(help: ArgumentHelp("Seconds to run before measuring; not counted.", valueName: "seconds"))
    var warmup = 2.0

    @Option(help: ArgumentHelp("Open loop: the total requests per second offered, spread evenly over the connections (default: closed loop).", valueName: "ops-per-s"))
    var rate: Double?

    @Option(help: "get, put, mixed: how many distinct keys (\"0\" ... \"K-1\"; default 100000).")
    var keys: Int?

    @Option(help: ArgumentHelp("get, put, mixed: bytes per value (0...1000000; default 100).", valueName: "bytes"))
    var valueSize: Int?

    @Option(help: "get, put, mixed: the section to run against (default customer).")
    var section: String?

    @Option(help: ArgumentHelp("mixed: the percentage of requests that are gets, the rest puts (0...100; default 80).", valueName: "percent"))
    var readPercent: Int?

    @Option(help: ArgumentHelp("How keys (trade, place: accounts) are picked: uniform or zipf (default uniform).", valueName: "uniform|zipf"))
    var distribution: String?

    @Option(help: ArgumentHelp("zipf: the exponent s; key k is picked with a probability proportional to 1 / (k + 1)^s (0 < s <= 10; default 0.99).", valueName: "s"))
    var zipfExponent: Double?

    @Option(help: ArgumentHelp("trade, place: accounts \"0\" ... \"N-1\" (default 100000).", valueName: "n"))
    var accounts: Int?

    @Option(help: ArgumentHelp("trade, place: products P0 ... P(M-1) (default 100).", valueName: "m"))
    var products: Int?

    @Flag(help: "trade, place: use the accounts and products already in the grid (`spacegrid load`) instead of loading them first.")
    var noLoad = false

    @Flag(help: "Also run the same workload through a bare ZeroMQ relay in the bench first, and compare.")
    var relay = false

    @Option(help: ArgumentHelp("--relay: echo worker threads behind the relay (1...256; default: the section's units).", valueName: "n"))
    var relayWorkers: Int?

    @Flag(help: "Send each request straight to the unit leading its key's partition (a partition-aware client), not through the broker.")
    var direct = false

    @Option(help: "Seed for the key choice (default: a new one each run).")
    var seed: UInt64?

    @Flag(help: "Print the summary as one JSON object.")
    var json = false

    @OptionGroup var client: ClientOptions

    static let defaultKeys = 100_000
    static let defaultValueSize = 100
    static let defaultSection = "customer"
    static let defaultAccounts = 100_000
    static let defaultProducts = 100
    static let defaultReadPercent = 80
    static let defaultZipfExponent = 0.99

    /// Bad options (BenchCommand+Validation): the problem and the usage on stderr, exit 2.
    func validate() throws {
        guard let problem = problem else { return }
        // As ArgumentParser prints its own errors, but with exit code 2 (it uses 64).
        let usage = Self.usageString().split(separator: "\n").joined(separator: "\n       ")
        FileHandle.standardError.write(Data("""
            Error: \(problem)
            Usage: \(usage)
              See 'spacegrid bench --help' for more information.

            """.utf8))
        throw ExitCode(2)
    }

    func run() throws {
        ProcessSignals.install()
        let trading = workload.isTrading
        let products = trading ? self.products ?? Self.defaultProducts : nil
        let keys = trading ? accounts ?? Self.defaultAccounts : self.keys ?? Self.defaultKeys
        let valueSize = trading ? 0 : self.valueSize ?? Self.defaultValueSize
        let readPercent = workload == .mixed ? self.readPercent ?? Self.defaultReadPercent : nil
        let built = workload.workload(valueSize: valueSize, products: products ?? 0, readPercent: readPercent ?? 0)
        let plan = BenchPlan(
            workload: built,
            section: built.section ?? section ?? Self.defaultSection,
            endpoint: client.endpoint,
            connections: connections,
            depth: depth,
            keys: keys,
            products: products,
            valueSize: valueSize,
            warmupSeconds: warmup,
            durationSeconds: duration,
            timeoutMilliseconds: client.timeout,
            seed: seed ?? UInt64.random(in: .min ... .max),
            distribution: distribution == BenchDistributionName.zipf.rawValue
                ? .zipf(keys: keys, exponent: zipfExponent ?? Self.defaultZipfExponent)
                : .uniform(keys: keys),
            rate: rate,
            readPercent: readPercent,
            direct: direct,
            threads: threads,
            curve: try client.curveIdentity())
        let progress = BenchProgress()
        if let products, !noLoad {
            try load(accounts: keys, products: products, progress: progress)
        }
        let report: BenchReport
        do {
            report = try BenchRun(plan: plan, progress: progress, relayWorkers: relay ? relayWorkers ?? 0 : nil).execute()
        } catch {
            FileHandle.standardError.write(Data("spacegrid: error: \(error.message)\n".utf8))
            throw ExitCode(error.exitCode)
        }
        print(json ? report.json : report.text)
        if report.failedEntirely { throw ExitCode(2) }
    }

    /// Stores the accounts and products `trade` and `place` run over, as `spacegrid load` does.
    private func load(accounts: Int, products: Int, progress: BenchProgress) throws {
        let plan = LoadPlan(
            endpoint: client.endpoint, accounts: accounts, products: products,
            balance: LoadPlan.defaultBalance, price: LoadPlan.defaultPrice, stock: LoadPlan.defaultStock,
            connections: LoadPlan.defaultConnections, depth: LoadPlan.defaultDepth,
            timeoutMilliseconds: client.timeout, curve: try client.curveIdentity())
        let report: LoadReport
        do {
            report = try LoadRun(plan: plan, progress: progress).execute()
        } catch {
            FileHandle.standardError.write(Data("spacegrid: error: \(error.message)\n".utf8))
            throw ExitCode(error.exitCode)
        }
        if let problem = report.problem {
            FileHandle.standardError.write(Data("spacegrid: error: loading the accounts and products failed: \(problem)\n".utf8))
            throw ExitCode(report.exitCode)
        }
    }
}
