import ArgumentParser
import Foundation
import GridClient
import GridCore
import GridRuntime
import Synchronization
import ZeroMQ

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
    /// CURVE: who the connections are (nil: no security).
    var curve: CurveIdentity? = nil

    /// `{"balance":B}`, built once and shared by every account's put.
    let accountArguments: [[UInt8]]
    /// `{"price":P,"stock":S}`, built once and shared by every product's set.
    let productArguments: [[UInt8]]

    init(endpoint: String, accounts: Int, products: Int, balance: Int, price: Int, stock: Int, connections: Int, depth: Int, timeoutMilliseconds: Int,
         curve: CurveIdentity? = nil) {
        self.curve = curve
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
