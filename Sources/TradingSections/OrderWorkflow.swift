import GridCore

/// `order.place`: the order workflow, a saga across the product, customer and
/// order sections (DESIGN.md section 7). Its state is the order entry itself
/// (key: the order id), so it is replicated like any write and a new primary
/// resumes it from the entry.
///
/// Arguments: `{"customer":"42","symbol":"AAPL","quantity":2}`. The entry:
/// `{"amount":30000,"customer":"42","id":"o-17","price":15000,"quantity":2,"state":"placed","steps_done":["index"],"symbol":"AAPL"}`
/// (`price`, `amount`, `reason`, `steps_done` only once known).
///
/// States and the steps each one waits for:
/// - `started`: `reserve` (`product.reserve` key symbol, `{"id":"<order>/reserve","quantity":Q}`).
/// - `reserved` (price and amount = price × quantity recorded): `debit`
///   (`customer.debit` key customer, `{"amount":A,"id":"<order>/debit"}`).
/// - `placed` (the client is answered now): `index` (`order.index` key customer,
///   `{"order":"<order>"}`), `commit_product` (`product.commit`,
///   `{"id":"<order>/reserve"}`) and `commit_customer` (`customer.commit`,
///   `{"id":"<order>/debit"}`), in parallel; `steps_done` lists those answered.
///   All answered: `done`.
/// - `compensating` (a step failed, `reason` is its error code): `release`
///   (`product.release`, `{"id":"<order>/reserve"}`) and, when the debit was
///   sent, `refund` (`customer.refund`, `{"id":"<order>/debit"}`). All
///   answered: `failed`, and the client is answered (so a client told
///   "failed" finds everything as it was).
///
/// Replies: `200 {"amount":A,"order":"o-17","price":P,"status":"placed"}` once
/// placed (`placed` and `done`), `409 {"code":R,"message":"...","order":"o-17","reason":R,"status":"failed"}`
/// once `failed` (`code`/`message` make it a regular error payload,
/// PROTOCOL.md section 3). The reply depends on the entry only, so it is the
/// same from `start` on a finished order as from the `advance` that finished
/// it. Placing an order id again replies the existing order's result
/// (whatever the new arguments), or waits for it while it runs.
///
/// A step's reply of 500, 503, 504 or 421 sends the same step again; any other
/// refusal of `reserve` or `debit` fails the order (`out_of_stock`,
/// `insufficient_funds`, `not_found`, ...); a refusal of a bookkeeping or
/// compensation step cannot be helped by retrying and counts as answered.
/// Replies the state does not wait for (duplicates, late) change nothing,
/// except a late success of `reserve` or `debit` on a compensating or failed
/// order, which sends its compensation again (and reopens a failed one).
///
/// Compensation of the failed step itself: `release` is sent even when
/// `reserve` failed, and `refund` when `debit` failed. Both are no-ops when
/// nothing is pending, but a copy of the failed step (sent again by a retry or
/// a resume) may have succeeded after the first copy was refused (stock was
/// released by another order in between); the compensation, sent after the
/// refusal arrived, undoes that copy too.
///
/// **Conservation, by construction.** Stock moves only by `reserve` (−Q, the
/// step id recorded in the product's `pending`) and `release` (+Q, only for a
/// pending id, which it removes); money only by `debit` (−A, recorded in the
/// account's `pending`) and `refund` (+A, same rule). `commit` removes an id
/// from `pending` without moving anything, and is sent only from `placed`,
/// whose order records exactly the Q reserved and the A debited. An order
/// leaves `compensating` for `failed` only after `release` (and `refund`,
/// when a debit was sent) answered, which undoes whatever of its steps is
/// still pending. Steps are sent only while their state awaits them, and
/// calls to one key arrive in the order they were sent (the broker and a
/// unit's connection keep order), so every copy of a step is applied before
/// the commit or compensation decided after its reply.
/// Hence, once no order is in `started`, `reserved`, `placed` or
/// `compensating`, no `pending` map holds a step of these orders, and
///     Σ balances + Σ amount of placed/done orders = starting balances,
///     Σ stock + Σ quantity of placed/done orders = starting stock.
enum OrderWorkflow {
    static let place = Workflow(start: start, advance: advance, resume: resume)

    enum Step: String, CaseIterable, Sendable {
        case reserve, debit, index, release, refund
        case commitProduct = "commit_product"
        case commitCustomer = "commit_customer"
    }

    /// Bookkeeping once placed.
    static let bookkeeping: [Step] = [.index, .commitProduct, .commitCustomer]

    // MARK: - The three functions

    static func start(_ input: OperationInput) -> WorkflowDecision {
        do throws(GridError) {
            guard TradingKeys.isOrderID(input.keyText) else {
                throw .badArguments("place: the key must be an order id with at least one non-digit character (digits only is a customer id), got '\(TradingError.text(input.key))'")
            }
            let arguments = try TradingJSON.arguments(PlaceArguments.self, input, operation: "place")
            guard TradingKeys.isCustomerID(arguments.customer) else {
                throw .badArguments("place: 'customer' must be a customer id (digits only), got '\(arguments.customer)'")
            }
            let symbol = try Check.nonEmpty(arguments.symbol, "symbol", "place")
            let quantity = try Check.positive(arguments.quantity, "quantity", "place")
            if let value = input.value {
                guard let order = stored(value) else {
                    throw TradingError.badValue("order", input.key, expected: #"{"id", "customer", "symbol", "quantity", "state", ...}"#)
                }
                guard let result = result(order) else { return .wait }
                return .finished(result.status, result.payload)
            }
            let order = OrderValue(customer: arguments.customer, id: input.keyText, quantity: quantity, state: .started, symbol: symbol)
            return WorkflowDecision(write: write(order), calls: [call(.reserve, order)])
        } catch {
            return .finished(error.status, error.payload)
        }
    }

    static func advance(_ key: [UInt8], _ value: [UInt8], _ stepName: String, _ status: Status, _ payload: [UInt8]) -> WorkflowDecision {
        guard var order = stored(value), let step = Step(rawValue: stepName) else { return .wait }
        let awaiting = awaited(order)
        let outcome = Outcome(status, payload)
        if outcome == .retry {
            return awaiting.contains(step) ? WorkflowDecision(calls: [call(step, order)]) : .wait
        }
        switch (order.state, step, outcome) {
        case (.started, .reserve, .ok):
            guard let reply = TradingJSON.decode(ReserveReply.self, from: payload), reply.price >= 0 else {
                return compensate(&order, reason: "bad_reply")
            }
            order.price = reply.price
            let (amount, overflow) = reply.price.multipliedReportingOverflow(by: order.quantity)
            guard !overflow else { return compensate(&order, reason: "amount_overflow") }
            order.amount = amount
            order.state = .reserved
            return WorkflowDecision(write: write(order), calls: [call(.debit, order)])
        case (.started, .reserve, .failed(let code)), (.reserved, .debit, .failed(let code)):
            return compensate(&order, reason: code)
        case (.reserved, .debit, .ok):
            order.state = .placed
            order.stepsDone = []
            return WorkflowDecision(write: write(order), calls: bookkeeping.map { call($0, order) }, result: result(order))
        case (.placed, _, _) where awaiting.contains(step), (.compensating, _, _) where awaiting.contains(step):
            // Answered (a refusal of bookkeeping or compensation is not helped by sending it again).
            order.stepsDone = (order.stepsDone ?? []) + [step.rawValue]
            if awaited(order).isEmpty { order.state = order.state == .placed ? .done : .failed }
            return WorkflowDecision(write: write(order), result: result(order))
        case (.compensating, .reserve, .ok), (.failed, .reserve, .ok):
            return compensateAgain(&order, .release)
        case (.compensating, .debit, .ok), (.failed, .debit, .ok):
            return order.amount == nil ? .wait : compensateAgain(&order, .refund)
        default:
            return .wait
        }
    }

    static func resume(_ key: [UInt8], _ value: [UInt8]) -> WorkflowDecision? {
        guard TradingKeys.isOrderID(String(decoding: key, as: UTF8.self)), var order = stored(value) else { return nil }
        let steps = awaited(order)
        switch order.state {
        case .done, .failed:
            return nil
        case .started, .reserved, .placed, .compensating:
            // `placed` has answered its clients already but still has bookkeeping: the result goes with it.
            guard steps.isEmpty else { return WorkflowDecision(calls: steps.map { call($0, order) }, result: result(order)) }
            // Everything answered, but the entry was not settled (written by hand, say): settle it.
            order.state = order.state == .placed ? .done : .failed
            return WorkflowDecision(write: write(order), result: result(order))
        }
    }

    // MARK: - Decisions

    /// A step failed: compensate (the client is told once that is done).
    private static func compensate(_ order: inout OrderValue, reason: String) -> WorkflowDecision {
        order.state = .compensating
        order.reason = reason
        order.stepsDone = []
        return WorkflowDecision(write: write(order), calls: awaited(order).map { call($0, order) })
    }

    /// A late success of a step on a failed order: its compensation runs (again).
    private static func compensateAgain(_ order: inout OrderValue, _ compensation: Step) -> WorkflowDecision {
        if order.state == .compensating, awaited(order).contains(compensation) {
            return WorkflowDecision(calls: [call(compensation, order)])
        }
        order.state = .compensating
        order.stepsDone = (order.stepsDone ?? []).filter { $0 != compensation.rawValue }
        return WorkflowDecision(write: write(order), calls: [call(compensation, order)])
    }

    /// The steps the order's state still waits for.
    static func awaited(_ order: OrderValue) -> [Step] {
        let done = Set(order.stepsDone ?? [])
        switch order.state {
        case .started: return [.reserve]
        case .reserved: return [.debit]
        case .placed: return bookkeeping.filter { !done.contains($0.rawValue) }
        case .compensating:
            let compensations: [Step] = order.amount == nil ? [.release] : [.release, .refund]
            return compensations.filter { !done.contains($0.rawValue) }
        case .done, .failed: return []
        }
    }

    /// The reply for clients, once the outcome is known (from the entry alone).
    static func result(_ order: OrderValue) -> WorkflowDecision.Result? {
        switch order.state {
        case .started, .reserved, .compensating:
            return nil
        case .placed, .done:
            let reply = PlacedReply(amount: order.amount ?? 0, order: order.id, price: order.price ?? 0)
            return .init(status: .ok, payload: TradingJSON.encode(reply))
        case .failed:
            let reason = order.reason ?? "failed"
            let during = order.amount.map { "debiting \($0) from customer '\(order.customer)'" }
                ?? "reserving \(order.quantity) of '\(order.symbol)'"
            let reply = FailedReply(code: reason, message: "order '\(order.id)' failed while \(during): \(reason)", order: order.id, reason: reason)
            return .init(status: .conflict, payload: TradingJSON.encode(reply))
        }
    }

    /// The request of one step of the order.
    static func call(_ step: Step, _ order: OrderValue) -> WorkflowCall {
        let reservation = "\(order.id)/reserve"
        let debit = "\(order.id)/debit"
        let (section, operation, key, arguments): (String, String, String, StepArguments) = switch step {
        case .reserve: ("product", "reserve", order.symbol, StepArguments(id: reservation, quantity: order.quantity))
        case .debit: ("customer", "debit", order.customer, StepArguments(amount: order.amount ?? 0, id: debit))
        case .index: ("order", "index", order.customer, StepArguments(order: order.id))
        case .commitProduct: ("product", "commit", order.symbol, StepArguments(id: reservation))
        case .commitCustomer: ("customer", "commit", order.customer, StepArguments(id: debit))
        case .release: ("product", "release", order.symbol, StepArguments(id: reservation))
        case .refund: ("customer", "refund", order.customer, StepArguments(id: debit))
        }
        return WorkflowCall(section: section, operation: operation, key: Array(key.utf8),
                            arguments: [TradingJSON.encode(arguments)], step: step.rawValue)
    }

    // MARK: - Values

    /// The order entry, or nil when the bytes are not a consistent order.
    static func stored(_ value: [UInt8]) -> OrderValue? {
        guard let order = TradingJSON.decode(OrderValue.self, from: value), TradingKeys.isOrderID(order.id),
              TradingKeys.isCustomerID(order.customer), !order.symbol.isEmpty, order.quantity > 0 else { return nil }
        switch order.state {
        case .reserved, .placed, .done:
            guard order.price != nil, order.amount != nil else { return nil }
        case .started, .compensating, .failed:
            break
        }
        return order
    }

    private static func write(_ order: OrderValue) -> OperationOutput.Write { .put(TradingJSON.encode(order)) }

    private enum Outcome: Equatable {
        case ok, retry
        case failed(String)

        init(_ status: Status, _ payload: [UInt8]) {
            switch status {
            case .ok: self = .ok
            case .internalError, .unavailable, .timeout, .misdirected: self = .retry
            default: self = .failed(GridError(status: status, payload: payload).code)
            }
        }
    }
}

/// An order, as stored: the workflow's state.
struct OrderValue: Codable, Equatable {
    enum State: String, Codable, Sendable {
        case started, reserved, placed, done, compensating, failed
    }

    var amount: Int64?
    var customer: String
    var id: String
    var price: Int64?
    var quantity: Int64
    var reason: String?
    var state: State
    var stepsDone: [String]?
    var symbol: String

    init(amount: Int64? = nil, customer: String, id: String, price: Int64? = nil, quantity: Int64, reason: String? = nil,
         state: State, stepsDone: [String]? = nil, symbol: String) {
        self.amount = amount
        self.customer = customer
        self.id = id
        self.price = price
        self.quantity = quantity
        self.reason = reason
        self.state = state
        self.stepsDone = stepsDone
        self.symbol = symbol
    }

    enum CodingKeys: String, CodingKey {
        case amount, customer, id, price, quantity, reason, state, symbol
        case stepsDone = "steps_done"
    }
}
