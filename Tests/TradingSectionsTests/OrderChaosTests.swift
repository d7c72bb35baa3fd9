import Foundation
import GridCore
import TradingSections
import XCTest

/// Thousands of orders over a few customers and products, some bound to fail
/// for funds or stock, delivered in random interleavings with duplicated and
/// lost calls and replies, crashed primaries and failovers. At the end no
/// order is unfinished, money and stock are conserved, nothing is pending,
/// and every client got the order's one reply.
final class OrderChaosTests: XCTestCase {
    struct Plan {
        var orders = 2_000
        var customers = 20
        var products = 5
        var faults = SagaNetwork.Faults(shuffle: true, duplicateCall: 0.1, duplicateReply: 0.1, dropCall: 0.05, dropReply: 0.05,
                                        crash: 0.01, retry: 0.05, failover: 0.0005)
    }

    func testRandomizedOrdersConserveMoneyAndStock() {
        run(seed: 2026, plan: Plan())
    }

    func testRandomizedOrdersWithHeavyFaults() {
        var plan = Plan()
        plan.orders = 400
        plan.faults = .init(shuffle: true, duplicateCall: 0.5, duplicateReply: 0.5, dropCall: 0.3, dropReply: 0.3, crash: 0.05, retry: 0.2, failover: 0.005)
        for seed: UInt64 in [1, 2, 3] { run(seed: seed, plan: plan) }
    }

    func testRandomizedOrdersWithoutFaults() {
        var plan = Plan()
        plan.orders = 400
        plan.faults = .init(shuffle: true)
        run(seed: 7, plan: plan)
    }

    private func run(seed: UInt64, plan: Plan, file: StaticString = #filePath, line: UInt = #line) {
        var rng = SplitMix64(seed: seed)
        var grid = TestGrid()
        var balances: [String: Int64] = [:]
        var stocks: [String: Int64] = [:]
        var prices: [String: Int64] = [:]
        let customers = (1...plan.customers).map { String($0 * 1009) }
        let symbols = (0..<plan.products).map { "P\($0)" }
        for customer in customers {
            balances[customer] = Int64(rng.below(3) == 0 ? rng.below(5_000) : rng.below(400_000))
            grid.put("customer", customer, #"{"balance":\#(balances[customer]!)}"#)
        }
        for symbol in symbols {
            prices[symbol] = Int64(100 + rng.below(5_000))
            stocks[symbol] = Int64(100 + rng.below(300))
            grid.call("product", "set", symbol, #"{"price":\#(prices[symbol]!),"stock":\#(stocks[symbol]!)}"#)
        }

        var network = SagaNetwork(grid: grid, faults: plan.faults, seed: seed ^ 0x5EED)
        var orders: [(id: String, customer: String, symbol: String, quantity: Int64)] = []
        var placings: [String: Int] = [:]
        var turns = 0
        while orders.count < plan.orders || network.inFlight {
            // Bounded, so a workflow that never settles fails the test instead of hanging it.
            turns += 1
            guard turns < 2_000_000 else {
                XCTFail("the network did not settle after \(turns) turns", file: file, line: line)
                break
            }
            if orders.count < plan.orders, !network.inFlight || rng.below(3) == 0 {
                let customer = rng.below(100) == 0 ? "999999" : customers[rng.below(customers.count)]
                let symbol = rng.below(100) == 0 ? "NOPE" : symbols[rng.below(symbols.count)]
                let order = (id: "o-\(orders.count)", customer: customer, symbol: symbol, quantity: Int64(1 + rng.below(10)))
                orders.append(order)
                placings[order.id, default: 0] += 1
                let decision = network.place(order.id, #"{"customer":"\#(customer)","symbol":"\#(symbol)","quantity":\#(order.quantity)}"#)
                XCTAssertEqual(decision.calls.map(\.step), ["reserve"], file: file, line: line)
            } else if rng.below(50) == 0 {
                // Money comes in meanwhile, so a debit refused once may succeed when sent again.
                let customer = customers[rng.below(customers.count)]
                let amount = Int64(1 + rng.below(50_000))
                XCTAssertEqual(network.grid.call("customer", "deposit", customer, #"{"amount":\#(amount)}"#).status, .ok, file: file, line: line)
                balances[customer, default: 0] += amount
            } else if !orders.isEmpty, rng.below(20) == 0 {
                // A client places an order id again, sometimes with other arguments.
                let order = orders[rng.below(orders.count)]
                let quantity = rng.below(2) == 0 ? order.quantity : order.quantity + 1
                placings[order.id, default: 0] += 1
                let decision = network.place(order.id, #"{"customer":"\#(order.customer)","symbol":"\#(order.symbol)","quantity":\#(quantity)}"#)
                XCTAssertEqual(decision.calls, [], "placed again: nothing new is sent", file: file, line: line)
                XCTAssertEqual(decision.write, .none, file: file, line: line)
            } else {
                network.step()
            }
        }
        network.settle(file: file, line: line)
        let label = "seed \(seed)"
        XCTAssertEqual(network.waiters, [:], "clients still waiting, \(label)", file: file, line: line)

        // Every order finished, and its clients all got the same reply, which says what happened.
        var placedAmount: [String: Int64] = [:]
        var placedQuantity: [String: Int64] = [:]
        var placedOrders: [String: Set<String>] = [:]
        var reasons: [String: Int] = [:]
        for order in orders {
            let stored = network.grid.object("order", order.id)
            let state = stored?["state"] as? String
            let replies = network.results[order.id] ?? []
            XCTAssertEqual(replies.count, placings[order.id], "every client placing \(order.id) got a reply, \(label)", file: file, line: line)
            XCTAssertEqual(Set(replies).count, 1, "\(order.id) replied differently: \(replies), \(label)", file: file, line: line)
            switch state {
            case "done":
                let amount = (stored?["amount"] as? NSNumber)?.int64Value ?? -1
                let price = prices[order.symbol] ?? -1
                XCTAssertEqual(amount, price * order.quantity, "\(order.id), \(label)", file: file, line: line)
                XCTAssertEqual(replies.first?.text, #"{"amount":\#(amount),"order":"\#(order.id)","price":\#(price),"status":"placed"}"#,
                               file: file, line: line)
                placedAmount[order.customer, default: 0] += amount
                placedQuantity[order.symbol, default: 0] += order.quantity
                placedOrders[order.customer, default: []].insert(order.id)
            case "failed":
                let reason = stored?["reason"] as? String ?? "?"
                reasons[reason, default: 0] += 1
                XCTAssertEqual(replies.first?.status, .conflict, "\(order.id), \(label)", file: file, line: line)
                XCTAssertEqual(replies.first?.code, reason, "\(order.id), \(label)", file: file, line: line)
            default:
                XCTFail("\(order.id) is \(state ?? "missing"), \(label)", file: file, line: line)
            }
        }
        XCTAssertGreaterThan(placedOrders.values.map(\.count).reduce(0, +), 0, label, file: file, line: line)
        if plan.orders >= 1_000 {
            for reason in ["out_of_stock", "insufficient_funds", "not_found"] {
                XCTAssertGreaterThan(reasons[reason] ?? 0, 0, "no order failed with \(reason), \(label): \(reasons)", file: file, line: line)
            }
        }
        XCTAssertEqual(Set(reasons.keys).subtracting(["out_of_stock", "insufficient_funds", "not_found"]), [], label, file: file, line: line)

        // Money and stock are conserved, per customer and per product; nothing is left pending.
        for customer in customers {
            let account = network.grid.object("customer", customer)
            let balance = (account?["balance"] as? NSNumber)?.int64Value ?? -1
            XCTAssertEqual(balance + placedAmount[customer, default: 0], balances[customer], "money of \(customer), \(label)", file: file, line: line)
            XCTAssertEqual((account?["pending"] as? [String: Any])?.count ?? 0, 0, "\(customer) pending, \(label)", file: file, line: line)
            let index = network.grid.object("order", customer)?["orders"] as? [String] ?? []
            XCTAssertEqual(index.count, Set(index).count, "index of \(customer) lists an order twice, \(label)", file: file, line: line)
            XCTAssertEqual(Set(index), placedOrders[customer, default: []], "index of \(customer), \(label)", file: file, line: line)
        }
        XCTAssertEqual(customers.map { network.grid.int("customer", $0, "balance")! }.reduce(0, +) + placedAmount.values.reduce(0, +),
                       balances.values.reduce(0, +), "total money, \(label)", file: file, line: line)
        for symbol in symbols {
            let product = network.grid.object("product", symbol)
            let stock = (product?["stock"] as? NSNumber)?.int64Value ?? -1
            XCTAssertEqual(stock + placedQuantity[symbol, default: 0], stocks[symbol], "stock of \(symbol), \(label)", file: file, line: line)
            XCTAssertEqual((product?["pending"] as? [String: Any])?.count ?? 0, 0, "\(symbol) pending, \(label)", file: file, line: line)
        }
        XCTAssertNil(network.grid.value("customer", "999999"), "a missing customer is not created")
        XCTAssertNil(network.grid.value("product", "NOPE"), "a missing product is not created")
    }
}
