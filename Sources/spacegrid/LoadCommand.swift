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
            connections: connections, depth: depth, timeoutMilliseconds: client.timeout, curve: try client.curveIdentity())
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
