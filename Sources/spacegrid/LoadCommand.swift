import ArgumentParser
import Foundation
import GridClient
import GridCore
import GridRuntime
import Synchronization
import ZeroMQ

/// `spacegrid load`: fills the grid with accounts and products, many requests in flight.
struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fill the grid fast: accounts in section customer, products in section product.",
        discussion: """
            Accounts are the keys "0" ... "N-1" of section customer, each stored with a
            plain put of {"balance":B}: a valid account for the customer operations.
            Products are the symbols P0 ... P(M-1) of section product (P0, P1, ..., never
            AAPL and the like), each written with `product set {"price":P,"stock":S}`.
            Both overwrite, so a re-run puts every balance, price and stock back to the
            values given (an account's recent trades are dropped).

            Each connection runs on its own thread with its own socket and keeps --depth
            requests in flight, taking the next account or product from a shared counter.
            A request answered 503 (no primary yet), 421, 500, or not answered within
            --timeout is sent again, up to 3 times, after 100, 200 and 400 ms; any other
            error (400, 404, 409, 413) fails it at once, since sending it again gets the
            same answer.

            Progress goes to stderr: done/total, percent, rate and ETA, on one line
            rewritten in place on a terminal, one line a second otherwise. The summary
            (with --json, one JSON object) goes to stdout. Exits 0 when everything is
            stored, 2 when some requests failed or a section is missing, 3 when the grid
            does not answer (or stops answering for 4 timeouts in a row), 130 when
            interrupted.

            Example, with `spacegrid up` running:
              spacegrid load --accounts 1000000 --products 100
            """)

    @Option(help: ArgumentHelp("Accounts \"0\" ... \"N-1\" to store in section customer.", valueName: "n"))
    var accounts = 0

    @Option(help: ArgumentHelp("Products P0 ... P(M-1) to store in section product.", valueName: "m"))
    var products = 0

    @Option(help: ArgumentHelp("Each account's balance, in cents.", valueName: "cents"))
    var balance = LoadPlan.defaultBalance

    @Option(help: ArgumentHelp("Each product's stock, in units.", valueName: "units"))
    var stock = LoadPlan.defaultStock

    @Option(help: ArgumentHelp("Each product's price, in cents.", valueName: "cents"))
    var price = LoadPlan.defaultPrice

    @Option(help: "Connections, each on its own thread (1...1024).")
    var connections = LoadPlan.defaultConnections

    @Option(help: "Requests in flight per connection (1...10000).")
    var depth = LoadPlan.defaultDepth

    @Flag(help: "Print the summary as one JSON object.")
    var json = false

    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard accounts >= 0 else { throw ValidationError("--accounts must be zero or more, got \(accounts)") }
        guard products >= 0 else { throw ValidationError("--products must be zero or more, got \(products)") }
        guard accounts > 0 || products > 0 else {
            throw ValidationError("nothing to load: give --accounts N and/or --products M (at least one above zero)")
        }
        guard accounts <= LoadPlan.maxItems, products <= LoadPlan.maxItems, accounts + products <= LoadPlan.maxItems else {
            throw ValidationError("--accounts plus --products must be at most \(BenchFormat.grouped(LoadPlan.maxItems))")
        }
        guard balance >= 0 else { throw ValidationError("--balance must be zero or more cents, got \(balance)") }
        guard stock >= 0 else { throw ValidationError("--stock must be zero or more units, got \(stock)") }
        guard price >= 0 else { throw ValidationError("--price must be zero or more cents, got \(price)") }
        guard (1...1_024).contains(connections) else { throw ValidationError("--connections must be between 1 and 1024, got \(connections)") }
        guard (1...10_000).contains(depth) else { throw ValidationError("--depth must be between 1 and 10000, got \(depth)") }
    }

    func run() throws {
        ProcessSignals.install()
        let plan = LoadPlan(
            endpoint: client.endpoint, accounts: accounts, products: products,
            balance: balance, price: price, stock: stock,
            connections: connections, depth: depth, timeoutMilliseconds: client.timeout)
        let report: LoadReport
        do {
            report = try LoadRun(plan: plan, progress: BenchProgress()).execute()
        } catch {
            FileHandle.standardError.write(Data("spacegrid: error: \(error.message)\n".utf8))
            throw ExitCode(error.exitCode)
        }
        print(json ? report.json : report.text)
        if let problem = report.problem {
            FileHandle.standardError.write(Data("spacegrid: error: \(problem)\n".utf8))
            throw ExitCode(report.exitCode)
        }
    }
}

// MARK: - Plan

/// What to load and how, shared read-only by every connection.
///
/// Items are numbered 0..<total: accounts first (item i is account "i"),
/// then products (item accounts + k is product Pk).
struct LoadPlan: Sendable {
    static let defaultBalance = 1_000_000
    static let defaultPrice = 1_000
    static let defaultStock = 1_000_000
    static let defaultConnections = 4
    static let defaultDepth = 256
    /// Times a failed request is sent again before it counts as failed.
    static let maxRetries = 3
    /// Keeps the item counter far from overflow.
    static let maxItems = 1_000_000_000_000

    static let accountSection = "customer"
    static let productSection = "product"

    var endpoint: String
    var accounts: Int
    var products: Int
    var balance: Int
    var price: Int
    var stock: Int
    var connections: Int
    var depth: Int
    var timeoutMilliseconds: Int

    /// `{"balance":B}`, built once and shared by every account's put.
    let accountArguments: [[UInt8]]
    /// `{"price":P,"stock":S}`, built once and shared by every product's set.
    let productArguments: [[UInt8]]

    init(endpoint: String, accounts: Int, products: Int, balance: Int, price: Int, stock: Int, connections: Int, depth: Int, timeoutMilliseconds: Int) {
        self.endpoint = endpoint
        self.accounts = accounts
        self.products = products
        self.balance = balance
        self.price = price
        self.stock = stock
        self.connections = connections
        self.depth = depth
        self.timeoutMilliseconds = timeoutMilliseconds
        accountArguments = [Array(#"{"balance":\#(balance)}"#.utf8)]
        productArguments = [Array(#"{"price":\#(price),"stock":\#(stock)}"#.utf8)]
    }

    var total: Int { accounts + products }

    /// The sections the load writes to.
    var sections: [String] {
        (accounts > 0 ? [Self.accountSection] : []) + (products > 0 ? [Self.productSection] : [])
    }

    /// The request that stores item `item`.
    func request(_ item: Int) -> (section: String, operation: String, key: [UInt8], arguments: [[UInt8]]) {
        if item < accounts {
            return (Self.accountSection, "put", BenchKeys.bytes(of: item), accountArguments)
        }
        return (Self.productSection, "set", Self.symbol(item - accounts), productArguments)
    }

    /// Product `k`'s symbol, `Pk`, as bytes.
    static func symbol(_ k: Int) -> [UInt8] { [UInt8(ascii: "P")] + BenchKeys.bytes(of: k) }
}

// MARK: - Shared state

/// What the connection threads and the main thread share while loading.
final class LoadBoard: Sendable {
    let plan: LoadPlan
    /// The next item to hand out.
    private let next = Atomic<Int>(0)
    let storedAccounts = Atomic<Int>(0)
    let storedProducts = Atomic<Int>(0)
    /// Items that failed after their retries (or at once, for a permanent error).
    let failed = Atomic<Int>(0)
    /// Requests sent again.
    let retried = Atomic<Int>(0)
    /// Whether any reply arrived at all.
    let replied = Atomic<Bool>(false)
    /// Set to stop every connection: interrupted, or one of them found the grid silent.
    let stopping = Atomic<Bool>(false)
    /// A connection heard nothing for `maxRetries + 1` timeouts in a row with requests in flight.
    let silent = Atomic<Bool>(false)
    let finished = Atomic<Int>(0)
    private let firstErrorText = Mutex<String?>(nil)
    private let failureText = Mutex<String?>(nil)

    init(plan: LoadPlan) { self.plan = plan }

    /// The next item to store, or nil when every item has been handed out.
    func claim() -> Int? {
        guard !stopping.load(ordering: .relaxed) else { return nil }
        let item = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return item < plan.total ? item : nil
    }

    var stored: Int { storedAccounts.load(ordering: .relaxed) + storedProducts.load(ordering: .relaxed) }

    func noteError(_ text: String) {
        firstErrorText.withLock { if $0 == nil { $0 = text } }
    }

    func noteFailure(_ text: String) {
        failureText.withLock { if $0 == nil { $0 = text } }
    }

    var firstError: String? { firstErrorText.withLock { $0 } }
    var failure: String? { failureText.withLock { $0 } }
}

// MARK: - One connection

/// One connection's pipelined load, on the thread that owns the connection:
/// keeps `depth` requests in flight, retries transient failures, gives up
/// when the grid stays silent.
///
/// Created, used and dropped on one `Thread`; never touched by another.
final class LoadWorker {
    private static let sliceMilliseconds = 50
    /// How often requests in flight are checked for a timeout.
    private static let sweepNanoseconds: UInt64 = 100_000_000
    /// The wait before retry n (1-based) is this times 2^(n-1): 100, 200, 400 ms.
    private static let backoffNanoseconds: UInt64 = 100_000_000

    private struct Pending {
        var item: Int
        var attempt: Int
        var sent: UInt64
    }

    private struct Retry {
        var item: Int
        var attempt: Int
        var due: UInt64
    }

    private let plan: LoadPlan
    private let board: LoadBoard
    private let connection: GridConnection
    private var inFlight: [UInt64: Pending]
    private var retries: [Retry] = []
    /// Whether the board has handed out every item.
    private var exhausted = false
    private var lastHeard: UInt64
    private var lastSweep: UInt64
    private let timeout: UInt64

    private init(plan: LoadPlan, board: LoadBoard, connection: GridConnection) {
        self.plan = plan
        self.board = board
        self.connection = connection
        inFlight = Dictionary(minimumCapacity: plan.depth * 2)
        lastHeard = BenchClock.nanoseconds()
        lastSweep = lastHeard
        timeout = UInt64(plan.timeoutMilliseconds) * 1_000_000
    }

    /// The body of a connection's thread.
    static func run(plan: LoadPlan, board: LoadBoard, context: Context) {
        defer { board.finished.add(1, ordering: .relaxed) }
        let worker: LoadWorker
        do {
            worker = LoadWorker(plan: plan, board: board, connection: try GridConnection(context: context, endpoint: plan.endpoint))
        } catch {
            board.noteFailure("cannot connect to \(plan.endpoint): \(error)")
            board.stopping.store(true, ordering: .relaxed)
            return
        }
        do {
            try worker.work()
        } catch {
            board.noteFailure("\(error)")
            board.stopping.store(true, ordering: .relaxed)
        }
        worker.connection.close()
    }

    private func work() throws(ZMQError) {
        while !board.stopping.load(ordering: .relaxed) {
            var now = BenchClock.nanoseconds()
            try fill(now)
            if inFlight.isEmpty {
                guard let due = retries.map(\.due).min() else { return }
                // Only retries waiting for their back-off: nothing is overdue meanwhile.
                lastHeard = now
                Thread.sleep(forTimeInterval: Double(min(due > now ? due - now : 0, UInt64(Self.sliceMilliseconds) * 1_000_000)) / 1e9)
                continue
            }
            if let (correlation, reply) = try connection.receive(timeoutMilliseconds: Self.sliceMilliseconds) {
                now = BenchClock.nanoseconds()
                lastHeard = now
                handle(correlation, reply, at: now)
                // Take whatever else has arrived before sending more.
                while let (correlation, reply) = try connection.receive(timeoutMilliseconds: 0) {
                    handle(correlation, reply, at: now)
                }
            }
            now = BenchClock.nanoseconds()
            if now &- lastSweep >= Self.sweepNanoseconds {
                sweep(now)
                lastSweep = now
            }
            if !inFlight.isEmpty, now &- lastHeard >= timeout &* UInt64(LoadPlan.maxRetries + 1) {
                board.silent.store(true, ordering: .relaxed)
                board.stopping.store(true, ordering: .relaxed)
                return
            }
        }
    }

    /// Sends due retries first, then new items, until `depth` are in flight.
    private func fill(_ now: UInt64) throws(ZMQError) {
        while inFlight.count < plan.depth {
            if !retries.isEmpty, let index = retries.firstIndex(where: { $0.due <= now }) {
                let retry = retries.remove(at: index)
                try send(retry.item, attempt: retry.attempt, at: now)
                continue
            }
            guard !exhausted else { return }
            guard let item = board.claim() else {
                exhausted = true
                return
            }
            try send(item, attempt: 0, at: now)
        }
    }

    private func send(_ item: Int, attempt: Int, at now: UInt64) throws(ZMQError) {
        let request = plan.request(item)
        let correlation = try connection.send(request.section, request.operation, key: request.key, arguments: request.arguments)
        inFlight[correlation] = Pending(item: item, attempt: attempt, sent: now)
    }

    private func handle(_ correlation: UInt64, _ reply: GridReply, at now: UInt64) {
        // A late reply to a request already timed out (and sent again): ignored.
        guard let pending = inFlight.removeValue(forKey: correlation) else { return }
        board.replied.store(true, ordering: .relaxed)
        if reply.status == .ok {
            if pending.item < plan.accounts {
                board.storedAccounts.add(1, ordering: .relaxed)
            } else {
                board.storedProducts.add(1, ordering: .relaxed)
            }
        } else {
            failed(pending, reply.status, reply.error?.description ?? "\(reply.status.rawValue)", at: now)
        }
    }

    /// Requests with no reply for the timeout fail with a timeout (and are usually sent again).
    private func sweep(_ now: UInt64) {
        let expired = inFlight.filter { now &- $0.value.sent >= timeout }
        for (correlation, pending) in expired {
            inFlight.removeValue(forKey: correlation)
            failed(pending, .timeout, "\(Status.timeout.rawValue) timeout: no reply within \(plan.timeoutMilliseconds) ms", at: now)
        }
    }

    private func failed(_ pending: Pending, _ status: Status, _ description: String, at now: UInt64) {
        if Self.isTransient(status), pending.attempt < LoadPlan.maxRetries {
            let attempt = pending.attempt + 1
            retries.append(Retry(item: pending.item, attempt: attempt, due: now + (Self.backoffNanoseconds << UInt64(attempt - 1))))
            board.retried.add(1, ordering: .relaxed)
            return
        }
        board.failed.add(1, ordering: .relaxed)
        let request = plan.request(pending.item)
        let what = "\(request.section) \(request.operation) \(String(decoding: request.key, as: UTF8.self))"
        let tries = pending.attempt > 0 ? " after \(pending.attempt + 1) tries" : ""
        board.noteError("\(what): \(description)\(tries)")
    }

    /// Failures another try may cure: no primary yet, a moved partition, a bug, silence.
    static func isTransient(_ status: Status) -> Bool {
        switch status {
        case .unavailable, .misdirected, .internalError, .timeout: true
        case .ok, .notFound, .badRequest, .conflict, .tooLarge, .notImplemented: false
        }
    }
}

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
        let context = Context()
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
