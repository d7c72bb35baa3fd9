import ArgumentParser
import Foundation
import GridRuntime

/// `spacegrid bench`: a closed-loop load generator with latency percentiles.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the grid: throughput and latency of a workload, in a closed loop.",
        discussion: """
            Each connection runs on its own thread and keeps --depth requests in flight:
            it sends that many, then one more for every reply. Replies during the warm-up
            are not counted. Latency runs from a request's send to its reply. Errors are
            replies other than 200 (a 404 on `get` included) and requests lost when a
            connection hears nothing for --timeout milliseconds.

            get, put: keys are "0" ... "K-1" of --section, picked uniformly at random.
            Before a `get` run the keys are stored with puts.

            trade, place: over accounts "0" ... "N-1" (--accounts) and products P0 ...
            P(M-1) (--products), which are stored first as `spacegrid load` does (balance
            1,000,000 cents, price 1,000 cents, stock 1,000,000; progress on stderr)
            unless --no-load says they are there already. `trade` sends `customer trade
            {"amount":1,"stock":"P<k>"}` for a random account and product; `place` sends
            `order place {"customer":"<n>","symbol":"P<k>","quantity":1}` under a new
            order id `o-<connection>-<sequence>-<run nonce>`. A 409 reply
            (insufficient_funds, out_of_stock) counts as `refused`, not as an error.

            Progress goes to stderr once a second; the summary (or, with --json, one JSON
            object) to stdout. Exits 3 when the grid does not answer, 2 when the section
            is unknown, the preload or load fails or every request failed, 130 when
            interrupted before the measurement began (an interrupt during it prints what
            was measured).

            Examples, with `spacegrid up` running:
              spacegrid bench put --duration 3
              spacegrid bench trade --accounts 100000 --products 100 --json
              spacegrid bench place --no-load --accounts 1000000
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

    @Option(help: "get, put: how many distinct keys (\"0\" ... \"K-1\"; default 100000).")
    var keys: Int?

    @Option(help: ArgumentHelp("get, put: bytes per value (0...1000000; default 100).", valueName: "bytes"))
    var valueSize: Int?

    @Option(help: "get, put: the section to run against (default customer).")
    var section: String?

    @Option(help: ArgumentHelp("trade, place: accounts \"0\" ... \"N-1\" (default 100000).", valueName: "n"))
    var accounts: Int?

    @Option(help: ArgumentHelp("trade, place: products P0 ... P(M-1) (default 100).", valueName: "m"))
    var products: Int?

    @Flag(help: "trade, place: use the accounts and products already in the grid (`spacegrid load`) instead of loading them first.")
    var noLoad = false

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

    func validate() throws {
        guard (1...1_024).contains(connections) else { throw ValidationError("--connections must be between 1 and 1024, got \(connections)") }
        guard (1...10_000).contains(depth) else { throw ValidationError("--depth must be between 1 and 10000, got \(depth)") }
        guard duration.isFinite, duration > 0 else { throw ValidationError("--duration must be a positive number of seconds, got \(duration)") }
        guard warmup.isFinite, warmup >= 0 else { throw ValidationError("--warmup must be zero or a positive number of seconds, got \(warmup)") }
        if workload.isTrading {
            let misplaced = [keys.map { _ in "--keys" }, valueSize.map { _ in "--value-size" }, section.map { _ in "--section" }].compactMap { $0 }
            guard misplaced.isEmpty else {
                throw ValidationError("\(misplaced.joined(separator: ", ")) \(misplaced.count == 1 ? "applies" : "apply") to get and put; \(workload.rawValue) runs over --accounts and --products")
            }
            if let accounts, accounts < 1 { throw ValidationError("--accounts must be at least 1, got \(accounts)") }
            if let accounts, accounts > LoadPlan.maxItems { throw ValidationError("--accounts must be at most \(BenchFormat.grouped(LoadPlan.maxItems))") }
            if let products, products < 1 { throw ValidationError("--products must be at least 1, got \(products)") }
            if let products, products > 1_000_000 { throw ValidationError("--products must be at most 1,000,000, got \(products)") }
        } else {
            let misplaced = [accounts.map { _ in "--accounts" }, products.map { _ in "--products" }, noLoad ? "--no-load" : nil].compactMap { $0 }
            guard misplaced.isEmpty else {
                throw ValidationError("\(misplaced.joined(separator: ", ")) \(misplaced.count == 1 ? "applies" : "apply") to trade and place; \(workload.rawValue) runs over --keys")
            }
            if let keys, keys < 1 { throw ValidationError("--keys must be at least 1, got \(keys)") }
            if let valueSize, !(0...1_000_000).contains(valueSize) { throw ValidationError("--value-size must be between 0 and 1000000 bytes, got \(valueSize)") }
            if let section, section.isEmpty { throw ValidationError("--section must not be empty") }
        }
    }

    func run() throws {
        ProcessSignals.install()
        let trading = workload.isTrading
        let products = trading ? self.products ?? Self.defaultProducts : nil
        let keys = trading ? accounts ?? Self.defaultAccounts : self.keys ?? Self.defaultKeys
        let valueSize = trading ? 0 : self.valueSize ?? Self.defaultValueSize
        let built = workload.workload(valueSize: valueSize, products: products ?? 0)
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
            seed: seed ?? UInt64.random(in: .min ... .max))
        let progress = BenchProgress()
        if let products, !noLoad {
            try load(accounts: keys, products: products, progress: progress)
        }
        let report: BenchReport
        do {
            report = try BenchRun(plan: plan, progress: progress).execute()
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
            timeoutMilliseconds: client.timeout)
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
