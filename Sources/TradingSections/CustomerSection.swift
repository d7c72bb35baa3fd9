import GridCore

/// The `customer` section: accounts, keyed by customer id, with a balance in
/// integer cents and their recent trades.
///
/// Value: `{"balance":1000,"pending":{"o-17/debit":500},"trades":[{"amount":500,"stock":"AAPL"}]}`.
/// `trades` and `pending` may be missing, so a plain `put` of `{"balance":100}`
/// is a valid account.
///
/// Operations (arguments: one JSON object):
/// - `open {"balance":N}` (N ≥ 0, default 0): creates the account (`exists` when
///   present); replies the account.
/// - `deposit {"amount":A}` (A > 0): replies `{"balance":N}`.
/// - `debit {"amount":A,"id"?:S}` (A ≥ 0): `insufficient_funds` when A > balance.
/// - `credit {"amount":A,"id"?:S}` (A ≥ 0).
/// - `refund {"id":S}`: undoes the pending step `S` (a debit, or a credit);
///   a no-op when `S` is not pending.
/// - `commit {"id":S}`: settles the pending step `S` (a no-op when absent).
/// - `trade {"amount":A,"stock":"AAPL"}` (the seeds' example): debits and
///   records the trade; replies `{"balance":N,"status":"success"}`.
///
/// Idempotency: a `debit` or `credit` with an `id` records it in `pending`
/// until `commit` or `refund`; sending it again while pending replies
/// `{"balance":N}` (the current balance) and applies nothing. `pending` maps a
/// step id to what `refund` adds back: +A for a debit, −A for a credit.
public let customerSection = Section(name: "customer", operations: [
    "open": operation(Customer.open),
    "deposit": operation(Customer.deposit),
    "debit": operation(Customer.debit),
    "credit": operation(Customer.credit),
    "refund": operation(Customer.refund),
    "commit": operation(Customer.commit),
    "trade": operation(Customer.trade),
])

/// A customer's account, as stored.
struct Account: Codable, Equatable {
    var balance: Int64
    var pending: [String: Int64]?
    var trades: [Trade]?

    struct Trade: Codable, Equatable {
        var amount: Int64
        var stock: String
    }
}

enum Customer {
    /// How many trades an account keeps (the most recent).
    static let recentTrades = 20

    static func open(_ input: OperationInput) throws(GridError) -> OperationOutput {
        let arguments = try TradingJSON.arguments(OpenArguments.self, input, operation: "open")
        let balance = try Check.nonNegative(arguments.balance ?? 0, "balance", "open")
        guard input.value == nil else { throw TradingError.exists("account '\(input.keyText)' already exists") }
        let value = TradingJSON.encode(Account(balance: balance, pending: [:], trades: []))
        return .ok(value, write: .put(value))
    }

    static func deposit(_ input: OperationInput) throws(GridError) -> OperationOutput {
        let amount = try Check.positive(TradingJSON.arguments(AmountArguments.self, input, operation: "deposit").amount, "amount", "deposit")
        var account = try stored(input)
        account.balance = try Check.sum(account.balance, amount, "balance", "deposit")
        return write(account, reply: BalanceReply(balance: account.balance))
    }

    static func debit(_ input: OperationInput) throws(GridError) -> OperationOutput {
        let arguments = try TradingJSON.arguments(AmountAndIDArguments.self, input, operation: "debit")
        let amount = try Check.nonNegative(arguments.amount, "amount", "debit")
        let id = try arguments.id.map { (id) throws(GridError) in try Check.nonEmpty(id, "id", "debit") }
        var account = try stored(input)
        if let id, account.pending?[id] != nil { return .ok(TradingJSON.encode(BalanceReply(balance: account.balance))) }
        guard amount <= account.balance else {
            throw TradingError.insufficientFunds("the balance of account '\(input.keyText)' is \(account.balance), less than \(amount)")
        }
        account.balance -= amount
        if let id { account.pending = (account.pending ?? [:]).merging([id: amount]) { $1 } }
        return write(account, reply: BalanceReply(balance: account.balance))
    }

    static func credit(_ input: OperationInput) throws(GridError) -> OperationOutput {
        let arguments = try TradingJSON.arguments(AmountAndIDArguments.self, input, operation: "credit")
        let amount = try Check.nonNegative(arguments.amount, "amount", "credit")
        let id = try arguments.id.map { (id) throws(GridError) in try Check.nonEmpty(id, "id", "credit") }
        var account = try stored(input)
        if let id, account.pending?[id] != nil { return .ok(TradingJSON.encode(BalanceReply(balance: account.balance))) }
        account.balance = try Check.sum(account.balance, amount, "balance", "credit")
        if let id { account.pending = (account.pending ?? [:]).merging([id: -amount]) { $1 } }
        return write(account, reply: BalanceReply(balance: account.balance))
    }

    /// Compensation: undoes a pending debit (or credit); a no-op when the id is not pending.
    static func refund(_ input: OperationInput) throws(GridError) -> OperationOutput {
        let id = try stepID(input, operation: "refund")
        var account = try stored(input)
        guard let amount = account.pending?[id] else { return .ok(TradingJSON.encode(BalanceReply(balance: account.balance))) }
        account.balance = try Check.sum(account.balance, amount, "balance", "refund")
        account.pending?[id] = nil
        return write(account, reply: BalanceReply(balance: account.balance))
    }

    /// Settles a pending step: it can no longer be refunded (a no-op when the id is not pending).
    static func commit(_ input: OperationInput) throws(GridError) -> OperationOutput {
        let id = try stepID(input, operation: "commit")
        var account = try stored(input)
        guard account.pending?[id] != nil else { return .ok(TradingJSON.encode(BalanceReply(balance: account.balance))) }
        account.pending?[id] = nil
        return write(account, reply: BalanceReply(balance: account.balance))
    }

    /// The seeds' example: checks the balance, debits, records the trade.
    static func trade(_ input: OperationInput) throws(GridError) -> OperationOutput {
        let arguments = try TradingJSON.arguments(TradeArguments.self, input, operation: "trade")
        let amount = try Check.positive(arguments.amount, "amount", "trade")
        let stock = try Check.nonEmpty(arguments.stock, "stock", "trade")
        var account = try stored(input)
        guard amount <= account.balance else {
            throw TradingError.insufficientFunds("the balance of account '\(input.keyText)' is \(account.balance), less than \(amount)")
        }
        account.balance -= amount
        var trades = account.trades ?? []
        trades.append(Account.Trade(amount: amount, stock: stock))
        account.trades = Array(trades.suffix(recentTrades))
        return write(account, reply: TradeReply(balance: account.balance))
    }

    // MARK: - Helpers

    private static func stepID(_ input: OperationInput, operation: String) throws(GridError) -> String {
        try Check.nonEmpty(TradingJSON.arguments(StepIDArguments.self, input, operation: operation).id, "id", operation)
    }

    /// The stored account: 404 when there is none, `bad_value` when the entry is no account.
    static func stored(_ input: OperationInput) throws(GridError) -> Account {
        guard let value = input.value else { throw TradingError.notFound("account", input.key) }
        guard let account = TradingJSON.decode(Account.self, from: value) else {
            throw TradingError.badValue("account", input.key, expected: #"{"balance": cents}"#)
        }
        return account
    }

    /// Writes the account (with `pending` and `trades` always present) and replies.
    private static func write(_ account: Account, reply: some JSONWritable) -> OperationOutput {
        var account = account
        account.pending = account.pending ?? [:]
        account.trades = account.trades ?? []
        return .ok(TradingJSON.encode(reply), write: .put(TradingJSON.encode(account)))
    }
}
