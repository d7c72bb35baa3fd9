import ArgumentParser
import Foundation
import GridClient
import GridCore
import GridRuntime
import Synchronization
import ZeroMQ

// MARK: - The run

/// Why a load could not run at all.
enum LoadFailure: Error {
    /// The broker did not answer the first request.
    case unreachable(endpoint: String, timeoutMilliseconds: Int)
    /// The grid has no such section.
    case unknownSection(String, endpoint: String)
    /// A connection could not be opened or failed in ZeroMQ.
    case connection(String)

    var message: String {
        switch self {
        case .unreachable(let endpoint, let timeout):
            "no reply from \(endpoint) within \(timeout) ms: is `spacegrid up` running?"
        case .unknownSection(let section, let endpoint):
            "the grid at \(endpoint) has no section '\(section)' (`spacegrid status` lists them; topologies/trading.yaml has customer, product and order)"
        case .connection(let reason):
            reason
        }
    }

    var exitCode: Int32 {
        switch self {
        case .unreachable: 3
        case .unknownSection, .connection: 2
        }
    }
}

/// One load, driven from the main thread: checks the grid is there, starts
/// one thread per connection, shows progress and gathers the counts.
struct LoadRun {
    let plan: LoadPlan
    let progress: BenchProgress

    private static let tickMilliseconds = 20

    func execute() throws(LoadFailure) -> LoadReport {
        let context = Context(curve: plan.curve)
        try checkGrid(context)

        let board = LoadBoard(plan: plan)
        let started = BenchClock.nanoseconds()
        for index in 0..<plan.connections {
            let plan = plan
            let thread = Thread { LoadWorker.run(plan: plan, board: board, context: context) }
            thread.name = "spacegrid-load-\(index)"
            thread.start()
        }

        let interval: UInt64 = progress.isTerminal ? 200_000_000 : 1_000_000_000
        var nextLine = progress.isTerminal ? started : started + interval
        var interrupted = false
        while board.finished.load(ordering: .relaxed) < plan.connections {
            if ProcessSignals.pending != 0, !interrupted {
                interrupted = true
                board.stopping.store(true, ordering: .relaxed)
            }
            let now = BenchClock.nanoseconds()
            if now >= nextLine {
                progress.show(line(board, elapsed: now - started))
                nextLine = now + interval
            }
            Thread.sleep(forTimeInterval: Double(Self.tickMilliseconds) / 1_000)
        }
        let elapsed = BenchClock.nanoseconds() - started
        progress.show(line(board, elapsed: elapsed))
        progress.endLine()

        let replied = board.replied.load(ordering: .relaxed)
        if !replied, let failure = board.failure { throw .connection(failure) }
        if !replied, !interrupted { throw .unreachable(endpoint: plan.endpoint, timeoutMilliseconds: plan.timeoutMilliseconds) }
        return LoadReport(plan: plan, board: board, seconds: Double(elapsed) / 1e9, interrupted: interrupted)
    }

    /// One request per section first, so that a missing grid or section is
    /// named plainly: `mmi.service` answers 200 or 404 for a section.
    private func checkGrid(_ context: Context) throws(LoadFailure) {
        let connection: GridConnection
        do {
            connection = try GridConnection(context: context, endpoint: plan.endpoint)
        } catch {
            throw .connection("cannot connect to \(plan.endpoint): \(error)")
        }
        defer { connection.close() }
        for section in plan.sections {
            let reply: GridReply
            do {
                reply = try connection.call("mmi.service", section, key: "", timeoutMilliseconds: plan.timeoutMilliseconds)
            } catch {
                throw .connection("cannot reach \(plan.endpoint): \(error)")
            }
            switch reply.status {
            case .timeout: throw .unreachable(endpoint: plan.endpoint, timeoutMilliseconds: plan.timeoutMilliseconds)
            case .notFound: throw .unknownSection(section, endpoint: plan.endpoint)
            default: continue
            }
        }
    }

    /// `loading [#####.....]  412,345/1,000,100  41%  95,123/s  ETA 6 s`
    private func line(_ board: LoadBoard, elapsed: UInt64) -> String {
        let total = plan.total
        let failed = board.failed.load(ordering: .relaxed)
        let done = board.stored + failed
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let width = 24
        let filled = min(width, Int(fraction * Double(width)))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let seconds = Double(elapsed) / 1e9
        let rate = seconds > 0 ? Double(done) / seconds : 0
        var text = "loading [\(bar)] \(BenchFormat.grouped(done))/\(BenchFormat.grouped(total))  \(Int(fraction * 100))%  \(BenchFormat.grouped(Int(rate)))/s"
        if done < total {
            text += "  ETA " + (rate > 0 ? LoadFormat.duration(Double(total - done) / rate) : "?")
        } else {
            text += "  in " + LoadFormat.duration(seconds)
        }
        let retried = board.retried.load(ordering: .relaxed)
        if retried > 0 { text += "  \(BenchFormat.grouped(retried)) retried" }
        if failed > 0 { text += "  \(BenchFormat.grouped(failed)) failed" }
        return text
    }
}

enum LoadFormat {
    /// `7 s`, `1 min 05 s`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let whole = Int(seconds.rounded(.up))
        return whole < 60 ? "\(whole) s" : "\(whole / 60) min \(String(format: "%02d", whole % 60)) s"
    }
}

// MARK: - Report

/// What a load did: printed as a readable summary, or with `--json` as one
/// JSON object with snake_case, sorted keys.
struct LoadReport: Codable, Equatable {
    var endpoint: String
    var accounts: Int
    var products: Int
    var balance: Int
    var price: Int
    var stock: Int
    var connections: Int
    var depth: Int
    var storedAccounts: Int
    var storedProducts: Int
    /// Requests that failed after their retries.
    var failed: Int
    /// Requests sent again (each retry counts once).
    var retried: Int
    /// Items neither stored nor failed: not sent, or unanswered when the load stopped.
    var unconfirmed: Int
    var seconds: Double
    /// Items stored per second.
    var ratePerS: Double
    var firstError: String?
    /// A connection's ZeroMQ failure, if one ended it.
    var failure: String?
    /// The grid stopped answering part-way.
    var gridSilent: Bool
    var interrupted: Bool

    enum CodingKeys: String, CodingKey {
        case endpoint, accounts, products, balance, price, stock, connections, depth, failed, retried, unconfirmed, seconds, failure, interrupted
        case storedAccounts = "stored_accounts"
        case storedProducts = "stored_products"
        case ratePerS = "rate_per_s"
        case firstError = "first_error"
        case gridSilent = "grid_silent"
    }
}

extension LoadReport {
    init(plan: LoadPlan, board: LoadBoard, seconds: Double, interrupted: Bool) {
        let storedAccounts = board.storedAccounts.load(ordering: .relaxed)
        let storedProducts = board.storedProducts.load(ordering: .relaxed)
        let failed = board.failed.load(ordering: .relaxed)
        let stored = storedAccounts + storedProducts
        self.init(
            endpoint: plan.endpoint, accounts: plan.accounts, products: plan.products,
            balance: plan.balance, price: plan.price, stock: plan.stock,
            connections: plan.connections, depth: plan.depth,
            storedAccounts: storedAccounts, storedProducts: storedProducts,
            failed: failed, retried: board.retried.load(ordering: .relaxed),
            unconfirmed: max(0, plan.total - stored - failed),
            seconds: (seconds * 1_000).rounded() / 1_000,
            ratePerS: seconds > 0 ? (Double(stored) / seconds).rounded() : 0,
            firstError: board.firstError, failure: board.failure,
            gridSilent: board.silent.load(ordering: .relaxed), interrupted: interrupted)
    }

    var stored: Int { storedAccounts + storedProducts }

    /// What went wrong, for stderr; nil when everything is stored.
    var problem: String? {
        if interrupted { return "interrupted: \(BenchFormat.grouped(stored)) of \(BenchFormat.grouped(accounts + products)) stored" }
        if gridSilent {
            return "the grid at \(endpoint) stopped answering (nothing for \(LoadPlan.maxRetries + 1) timeouts in a row); "
                + "\(BenchFormat.grouped(stored)) of \(BenchFormat.grouped(accounts + products)) stored"
        }
        if let failure { return "a connection failed: \(failure)" }
        if failed > 0 || unconfirmed > 0 {
            return "\(BenchFormat.grouped(failed + unconfirmed)) of \(BenchFormat.grouped(accounts + products)) requests failed"
                + (firstError.map { " (first: \($0))" } ?? "")
        }
        return nil
    }

    /// 130 when interrupted, 3 when the grid went silent, 2 for failed requests, else 0.
    var exitCode: Int32 {
        if interrupted { return 130 }
        if gridSilent { return 3 }
        return problem == nil ? 0 : 2
    }

    /// The readable summary.
    var text: String {
        var lines = [
            "loaded \(BenchFormat.grouped(stored)) entries in \(BenchFormat.fixed(seconds, seconds < 10 ? 2 : 1)) s (\(BenchFormat.grouped(Int(ratePerS))) per second) at \(endpoint)",
        ]
        if accounts > 0 {
            lines.append("  accounts   \(BenchFormat.grouped(storedAccounts)) of \(BenchFormat.grouped(accounts)) in customer, keys 0 ... \(accounts - 1), balance \(BenchFormat.grouped(balance)) cents each")
        }
        if products > 0 {
            lines.append("  products   \(BenchFormat.grouped(storedProducts)) of \(BenchFormat.grouped(products)) in product, P0 ... P\(products - 1), price \(BenchFormat.grouped(price)) cents, stock \(BenchFormat.grouped(stock)) each")
        }
        lines.append("  requests   \(connections) connections x \(depth) in flight, \(BenchFormat.grouped(retried)) retried, \(BenchFormat.grouped(failed)) failed"
            + (unconfirmed > 0 ? ", \(BenchFormat.grouped(unconfirmed)) unconfirmed" : ""))
        if let firstError { lines.append("  first error  \(firstError)") }
        return lines.joined(separator: "\n")
    }

    /// One JSON object on one line, keys sorted.
    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
