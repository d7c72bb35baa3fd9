import Foundation
import GridCore
import TradingSections
import XCTest

/// `order.place`: each decision of the saga, then whole runs with failures,
/// replays, duplicate orders and crashes at every point.
final class OrderWorkflowTests: XCTestCase {
    private let place = orderSection.workflows["place"]!
    private let arguments = #"{"customer":"42","symbol":"AAPL","quantity":2}"#
    private let placedReply = #"{"amount":30000,"order":"o-1","price":15000,"status":"placed"}"#

    /// Customer 42 with `balance`, AAPL at 150.00 with `stock`.
    private func grid(balance: Int64 = 100_000, stock: Int64 = 10) -> TestGrid {
        var grid = TestGrid()
        grid.put("customer", "42", #"{"balance":\#(balance)}"#)
        grid.call("product", "set", "AAPL", #"{"price":15000,"stock":\#(stock)}"#)
        return grid
    }

    private func written(_ decision: WorkflowDecision, file: StaticString = #filePath, line: UInt = #line) -> [UInt8] {
        guard case .put(let value) = decision.write else {
            XCTFail("the decision writes nothing", file: file, line: line)
            return []
        }
        return value
    }

    private func call(_ section: String, _ operation: String, _ key: String, _ arguments: String, _ step: String) -> WorkflowCall {
        WorkflowCall(section: section, operation: operation, key: bytes(key), arguments: [bytes(arguments)], step: step)
    }

    private func result(_ decision: WorkflowDecision?) -> Reply? {
        decision?.result.map { Reply(status: $0.status, payload: $0.payload) }
    }

    // MARK: - Decisions, one by one

    func testTheHappyPathDecisionByDecision() {
        let key = bytes("o-1")
        let start = place.start(OperationInput(key: key, value: nil, version: 0, arguments: [bytes(arguments)]))
        XCTAssertEqual(text(written(start)), #"{"customer":"42","id":"o-1","quantity":2,"state":"started","symbol":"AAPL"}"#)
        XCTAssertEqual(start.calls, [call("product", "reserve", "AAPL", #"{"id":"o-1/reserve","quantity":2}"#, "reserve")])
        XCTAssertNil(start.result)

        let reserved = place.advance(key, written(start), "reserve", .ok, bytes(#"{"price":15000,"stock":8}"#))
        XCTAssertEqual(text(written(reserved)),
                       #"{"amount":30000,"customer":"42","id":"o-1","price":15000,"quantity":2,"state":"reserved","symbol":"AAPL"}"#)
        XCTAssertEqual(reserved.calls, [call("customer", "debit", "42", #"{"amount":30000,"id":"o-1/debit"}"#, "debit")])
        XCTAssertNil(reserved.result)

        let placed = place.advance(key, written(reserved), "debit", .ok, bytes(#"{"balance":70000}"#))
        XCTAssertEqual(text(written(placed)),
                       #"{"amount":30000,"customer":"42","id":"o-1","price":15000,"quantity":2,"state":"placed","steps_done":[],"symbol":"AAPL"}"#)
        XCTAssertEqual(placed.calls, [
            call("order", "index", "42", #"{"order":"o-1"}"#, "index"),
            call("product", "commit", "AAPL", #"{"id":"o-1/reserve"}"#, "commit_product"),
            call("customer", "commit", "42", #"{"id":"o-1/debit"}"#, "commit_customer"),
        ])
        XCTAssertEqual(result(placed), Reply(status: .ok, payload: bytes(placedReply)), "the client is told at placed")

        let indexed = place.advance(key, written(placed), "index", .ok, bytes(#"{"count":1,"customer":"42"}"#))
        XCTAssertEqual(text(written(indexed)),
                       #"{"amount":30000,"customer":"42","id":"o-1","price":15000,"quantity":2,"state":"placed","steps_done":["index"],"symbol":"AAPL"}"#)
        XCTAssertEqual(indexed.calls, [])
        XCTAssertEqual(result(indexed)?.text, placedReply)
        // The bookkeeping answers in any order.
        let committed = place.advance(key, written(indexed), "commit_customer", .ok, bytes(#"{"balance":70000}"#))
        let done = place.advance(key, written(committed), "commit_product", .ok, bytes(#"{"stock":8}"#))
        XCTAssertEqual(text(written(done)),
                       #"{"amount":30000,"customer":"42","id":"o-1","price":15000,"quantity":2,"state":"done","steps_done":["index","commit_customer","commit_product"],"symbol":"AAPL"}"#)
        XCTAssertEqual(done.calls, [])
        XCTAssertEqual(result(done)?.text, placedReply, "late waiters get the same result")

        // Nothing more to do, and the same reply to anyone placing o-1 again.
        XCTAssertNil(place.resume(key, written(done)))
        for value in [written(placed), written(indexed), written(done)] {
            let again = place.start(OperationInput(key: key, value: value, version: 9, arguments: [bytes(#"{"customer":"7","symbol":"MSFT","quantity":99}"#)]))
            XCTAssertEqual(again, .finished(.ok, bytes(placedReply)))
        }
        // Replies the state does not wait for change nothing.
        for (value, step) in [(written(reserved), "reserve"), (written(placed), "debit"), (written(indexed), "index"),
                              (written(done), "commit_product"), (written(done), "index"), (written(start), "debit"), (written(start), "nonsense")] {
            XCTAssertEqual(place.advance(key, value, step, .ok, bytes("{}")), .wait, step)
        }
    }

    func testRetryableRepliesSendTheSameStepAgain() {
        let key = bytes("o-1")
        let start = place.start(OperationInput(key: key, value: nil, version: 0, arguments: [bytes(arguments)]))
        for status in [Status.unavailable, .timeout, .internalError, .misdirected] {
            let again = place.advance(key, written(start), "reserve", status, GridError.noPrimary(section: "product", partition: 3).payload)
            XCTAssertEqual(again, WorkflowDecision(calls: start.calls), "\(status)")
        }
        let reserved = place.advance(key, written(start), "reserve", .ok, bytes(#"{"price":15000,"stock":8}"#))
        XCTAssertEqual(place.advance(key, written(reserved), "debit", .timeout, []), WorkflowDecision(calls: reserved.calls))
        XCTAssertEqual(place.advance(key, written(reserved), "reserve", .timeout, []), .wait, "not waiting for reserve any more")
        let placed = place.advance(key, written(reserved), "debit", .ok, bytes(#"{"balance":1}"#))
        XCTAssertEqual(place.advance(key, written(placed), "commit_product", .unavailable, []), WorkflowDecision(calls: [placed.calls[1]]))
    }

    func testStartOnARunningOrderWaits() {
        let key = bytes("o-1")
        let start = place.start(OperationInput(key: key, value: nil, version: 0, arguments: [bytes(arguments)]))
        XCTAssertEqual(place.start(OperationInput(key: key, value: written(start), version: 1, arguments: [bytes(arguments)])), .wait)
        let reserved = place.advance(key, written(start), "reserve", .ok, bytes(#"{"price":15000,"stock":8}"#))
        XCTAssertEqual(place.start(OperationInput(key: key, value: written(reserved), version: 2, arguments: [bytes(arguments)])), .wait)
    }

    func testResume() {
        let key = bytes("o-1")
        let start = place.start(OperationInput(key: key, value: nil, version: 0, arguments: [bytes(arguments)]))
        XCTAssertEqual(place.resume(key, written(start)), WorkflowDecision(calls: start.calls))
        let reserved = place.advance(key, written(start), "reserve", .ok, bytes(#"{"price":15000,"stock":8}"#))
        XCTAssertEqual(place.resume(key, written(reserved)), WorkflowDecision(calls: reserved.calls))
        let placed = place.advance(key, written(reserved), "debit", .ok, bytes(#"{"balance":1}"#))
        XCTAssertEqual(place.resume(key, written(placed)), WorkflowDecision(calls: placed.calls, result: placed.result))
        let indexed = place.advance(key, written(placed), "index", .ok, bytes("{}"))
        XCTAssertEqual(place.resume(key, written(indexed)), WorkflowDecision(calls: Array(placed.calls[1...]), result: placed.result))
        // A placed order with everything answered (written by hand) is settled.
        let settled = place.resume(key, bytes(#"{"amount":30000,"customer":"42","id":"o-1","price":15000,"quantity":2,"state":"placed","steps_done":["index","commit_product","commit_customer"],"symbol":"AAPL"}"#))
        XCTAssertEqual(settled.map { text(written($0)) }, #"{"amount":30000,"customer":"42","id":"o-1","price":15000,"quantity":2,"state":"done","steps_done":["index","commit_product","commit_customer"],"symbol":"AAPL"}"#)
        XCTAssertEqual(result(settled)?.text, placedReply)
        // Compensating: the compensations again, with the failure.
        let failing = place.advance(key, written(reserved), "debit", .conflict, GridError(.conflict, "insufficient_funds", "no").payload)
        XCTAssertEqual(place.resume(key, written(failing)), WorkflowDecision(calls: failing.calls, result: failing.result))
        // Nothing for index entries, other values, and keys of digits only.
        for (entryKey, value) in [("42", #"{"customer":"42","orders":["o-1"]}"#), ("o-1", "garbage"), ("o-1", #"{"balance":5}"#),
                                  ("o-1", #"{"customer":"42","id":"o-1","quantity":2,"state":"sleeping","symbol":"AAPL"}"#),
                                  ("o-1", #"{"customer":"42","id":"o-1","quantity":2,"state":"reserved","symbol":"AAPL"}"#),
                                  ("17", text(written(start)))] {
            XCTAssertNil(place.resume(bytes(entryKey), bytes(value)), "\(entryKey) \(value)")
            guard entryKey != "17" else { continue }
            XCTAssertEqual(place.advance(bytes(entryKey), bytes(value), "reserve", .ok, bytes(#"{"price":1,"stock":1}"#)), .wait)
        }
    }

    func testUnusableReserveRepliesCompensate() {
        let key = bytes("o-1")
        let start = place.start(OperationInput(key: key, value: nil, version: 0, arguments: [bytes(#"{"customer":"42","symbol":"AAPL","quantity":4611686018427387904}"#)]))
        let overflow = place.advance(key, written(start), "reserve", .ok, bytes(#"{"price":15000,"stock":8}"#))
        XCTAssertEqual(text(written(overflow)),
                       #"{"customer":"42","id":"o-1","price":15000,"quantity":4611686018427387904,"reason":"amount_overflow","state":"compensating","steps_done":[],"symbol":"AAPL"}"#)
        XCTAssertEqual(overflow.calls, [call("product", "release", "AAPL", #"{"id":"o-1/reserve"}"#, "release")])
        XCTAssertNil(overflow.result, "the client is told once compensated")
        XCTAssertEqual(place.start(OperationInput(key: key, value: written(overflow), version: 2, arguments: [bytes(arguments)])), .wait)
        let failed = place.advance(key, written(overflow), "release", .ok, bytes(#"{"stock":10}"#))
        XCTAssertEqual(OrderState.of(written(failed)), "failed")
        XCTAssertEqual(result(failed)?.status, .conflict)
        XCTAssertEqual(result(failed)?.code, "amount_overflow")
        let garbled = place.advance(key, written(start), "reserve", .ok, bytes("oops"))
        XCTAssertEqual(text(written(garbled)), #"{"customer":"42","id":"o-1","quantity":4611686018427387904,"reason":"bad_reply","state":"compensating","steps_done":[],"symbol":"AAPL"}"#)
        XCTAssertEqual(garbled.calls.map(\.step), ["release"])
    }

    // MARK: - Whole runs

    func testAPlacedOrder() {
        var network = SagaNetwork(grid: grid())
        XCTAssertNil(network.place("o-1", arguments).result)
        network.settle()
        XCTAssertEqual(network.results["o-1"], [Reply(status: .ok, payload: bytes(placedReply))])
        XCTAssertEqual(network.state(of: "o-1"), "done")
        XCTAssertEqual(network.grid.value("customer", "42"), #"{"balance":70000,"pending":{},"trades":[]}"#)
        XCTAssertEqual(network.grid.value("product", "AAPL"), #"{"pending":{},"price":15000,"stock":8,"symbol":"AAPL"}"#)
        XCTAssertEqual(network.grid.call("order", "orders", "42").text, #"{"customer":"42","orders":["o-1"]}"#)
        XCTAssertEqual(network.sent.map(\.step), ["reserve", "debit", "index", "commit_product", "commit_customer"])
    }

    func testAFailedReserveHasNothingToUndo() {
        var network = SagaNetwork(grid: grid(stock: 1))
        let before = network.grid
        network.place("o-1", arguments)
        network.settle()
        let failed = #"{"code":"out_of_stock","message":"order 'o-1' failed while reserving 2 of 'AAPL': out_of_stock","order":"o-1","reason":"out_of_stock","status":"failed"}"#
        XCTAssertEqual(network.results["o-1"], [Reply(status: .conflict, payload: bytes(failed))])
        XCTAssertEqual(network.state(of: "o-1"), "failed")
        XCTAssertEqual(network.grid.value("order", "o-1"),
                       #"{"customer":"42","id":"o-1","quantity":2,"reason":"out_of_stock","state":"failed","steps_done":["release"],"symbol":"AAPL"}"#)
        XCTAssertEqual(network.grid.value("product", "AAPL"), before.value("product", "AAPL"), "the release finds nothing pending")
        XCTAssertEqual(network.grid.value("customer", "42"), before.value("customer", "42"))
        XCTAssertFalse(network.sent.contains { $0.section == "customer" }, "the buyer is never touched")
        XCTAssertEqual(network.sent.map(\.step), ["reserve", "release"])
        XCTAssertEqual(network.grid.call("order", "orders", "42").text, #"{"customer":"42","orders":[]}"#)
        // Placing it again replies the same failure.
        XCTAssertEqual(result(network.place("o-1", arguments))?.text, failed)
    }

    func testAMissingProductOrCustomerFailsTheOrder() {
        var network = SagaNetwork(grid: grid())
        network.place("o-1", #"{"customer":"42","symbol":"NOPE","quantity":1}"#)
        network.place("o-2", #"{"customer":"43","symbol":"AAPL","quantity":1}"#)
        network.settle()
        XCTAssertEqual(network.results["o-1"]?.first?.text,
                       #"{"code":"not_found","message":"order 'o-1' failed while reserving 1 of 'NOPE': not_found","order":"o-1","reason":"not_found","status":"failed"}"#)
        XCTAssertEqual(network.results["o-2"]?.first?.text,
                       #"{"code":"not_found","message":"order 'o-2' failed while debiting 15000 from customer '43': not_found","order":"o-2","reason":"not_found","status":"failed"}"#)
        XCTAssertEqual(network.grid.int("product", "AAPL", "stock"), 10, "o-2's reservation is released")
        XCTAssertEqual(network.grid.int("customer", "42", "balance"), 100_000)
    }

    func testAFailedDebitReleasesTheStock() {
        var network = SagaNetwork(grid: grid(balance: 29_999))
        let before = network.grid
        network.place("o-1", arguments)
        network.settle()
        let failed = #"{"code":"insufficient_funds","message":"order 'o-1' failed while debiting 30000 from customer '42': insufficient_funds","order":"o-1","reason":"insufficient_funds","status":"failed"}"#
        XCTAssertEqual(network.results["o-1"], [Reply(status: .conflict, payload: bytes(failed))], "told once the stock is back")
        XCTAssertEqual(network.grid.value("order", "o-1"),
                       #"{"amount":30000,"customer":"42","id":"o-1","price":15000,"quantity":2,"reason":"insufficient_funds","state":"failed","steps_done":["release","refund"],"symbol":"AAPL"}"#)
        XCTAssertEqual(network.sent.map(\.step), ["reserve", "debit", "release", "refund"])
        XCTAssertEqual(network.grid.value("product", "AAPL"), #"{"pending":{},"price":15000,"stock":10,"symbol":"AAPL"}"#, "stock back")
        XCTAssertEqual(network.grid.int("customer", "42", "balance"), 29_999, "money untouched")
        XCTAssertEqual(network.grid.value("customer", "42"), before.value("customer", "42"), "the refund found nothing to undo")
        XCTAssertEqual(network.grid.value("customer", "42"), #"{"balance":29999}"#)
        XCTAssertEqual(result(network.place("o-1", arguments))?.text, failed)
    }

    func testEveryCallAndReplyTwiceChangesNothing() {
        for balance: Int64 in [100_000, 100] {
            for stock: Int64 in [10, 1] {
                var once = SagaNetwork(grid: grid(balance: balance, stock: stock))
                once.place("o-1", arguments)
                once.settle()
                var twice = SagaNetwork(grid: grid(balance: balance, stock: stock), faults: .init(duplicateCall: 1, duplicateReply: 1))
                twice.place("o-1", arguments)
                twice.settle()
                let label = "balance \(balance) stock \(stock)"
                XCTAssertGreaterThanOrEqual(twice.sent.count, 2 * once.sent.count, label)
                for (section, key) in [("customer", "42"), ("product", "AAPL"), ("order", "42")] {
                    XCTAssertEqual(twice.grid.value(section, key), once.grid.value(section, key), "\(section) \(key): \(label)")
                }
                XCTAssertEqual(twice.state(of: "o-1"), once.state(of: "o-1"), label)
                XCTAssertEqual(Set(twice.results["o-1"] ?? []), Set(once.results["o-1"] ?? []), "the same reply: \(label)")
                XCTAssertEqual(Set(once.results["o-1"] ?? []).count, 1, label)
            }
        }
    }

    func testPlacingTheSameOrderIdTwicePlacesItOnce() {
        var network = SagaNetwork(grid: grid())
        network.place("o-1", arguments)
        XCTAssertEqual(network.place("o-1", arguments), .wait, "running: the second client waits")
        XCTAssertEqual(network.place("o-1", #"{"customer":"42","symbol":"AAPL","quantity":5}"#), .wait)
        network.settle()
        XCTAssertEqual(network.place("o-1", arguments), .finished(.ok, bytes(placedReply)))
        XCTAssertEqual(network.place("o-1", #"{"customer":"7","symbol":"MSFT","quantity":1}"#), .finished(.ok, bytes(placedReply)))
        network.settle()
        XCTAssertEqual(network.sent.filter { $0.step == "debit" }.count, 1, "one debit")
        XCTAssertEqual(network.grid.int("customer", "42", "balance"), 70_000)
        XCTAssertEqual(network.grid.int("product", "AAPL", "stock"), 8)
        XCTAssertEqual(network.grid.call("order", "orders", "42").text, #"{"customer":"42","orders":["o-1"]}"#)
        XCTAssertEqual(network.results["o-1"], Array(repeating: Reply(status: .ok, payload: bytes(placedReply)), count: 5), "all five clients")
    }

    func testTheReplyIsTheSameFromStartAndFromTheAdvanceThatFinished() {
        for (balance, stock) in [(100_000, 10), (100, 10), (100_000, 1)] as [(Int64, Int64)] {
            var network = SagaNetwork(grid: grid(balance: balance, stock: stock))
            network.place("o-1", arguments)
            network.settle()
            let finished = network.results["o-1"]!
            XCTAssertEqual(Set(finished).count, 1)
            XCTAssertEqual(result(network.place("o-1", arguments)), finished.first)
        }
    }

    /// Crash the order's primary at every point of the run (its in-flight replies lost, and maybe its
    /// unsent calls), let a new primary resume it: same outcome as without the crash, nothing pending.
    func testACrashAtEveryPointResumesOrCompensates() {
        for (balance, stock) in [(100_000, 10), (29_999, 10), (100_000, 1)] as [(Int64, Int64)] {
            var reference = SagaNetwork(grid: grid(balance: balance, stock: stock))
            reference.place("o-1", arguments)
            reference.settle()
            for point in 0...reference.events {
                for dropCalls in [false, true] {
                    for crashes in 1...2 {
                        var network = SagaNetwork(grid: grid(balance: balance, stock: stock))
                        network.place("o-1", arguments)
                        for _ in 0..<point { network.step() }
                        for _ in 0..<crashes { network.crash(bytes("o-1"), dropCalls: dropCalls) }
                        network.settle()
                        let label = "balance \(balance) stock \(stock), crash after \(point) events, drop calls \(dropCalls), crashes \(crashes)"
                        for (section, key) in [("customer", "42"), ("product", "AAPL"), ("order", "42")] {
                            XCTAssertEqual(network.grid.value(section, key), reference.grid.value(section, key), "\(section) \(key): \(label)")
                        }
                        XCTAssertEqual(network.state(of: "o-1"), reference.state(of: "o-1"), label)
                        XCTAssertEqual(Set(network.results["o-1"] ?? []), Set(reference.results["o-1"] ?? []), label)
                    }
                }
            }
        }
    }

    /// A copy of a refused reserve (sent again by a resume) succeeds later, once another order released
    /// stock: the release the failure sends undoes it, so the stock is conserved.
    func testACopyOfARefusedReserveThatSucceedsLaterIsReleased() {
        var grid = grid(balance: 0, stock: 5)
        grid.put("customer", "43", #"{"balance":1000000}"#)
        let start1 = place.start(OperationInput(key: bytes("o-1"), value: nil, version: 0, arguments: [bytes(#"{"customer":"42","symbol":"AAPL","quantity":5}"#)]))
        let start2 = place.start(OperationInput(key: bytes("o-2"), value: nil, version: 0, arguments: [bytes(#"{"customer":"43","symbol":"AAPL","quantity":3}"#)]))
        var order1 = written(start1), order2 = written(start2)
        // On AAPL, in this order: o-1 reserves everything; o-2's reserve is refused; o-1's debit fails
        // and its release puts the stock back; o-2's reserve, sent again by a resume, now succeeds.
        let reserve1 = grid.run(start1.calls[0])
        let refused = grid.run(start2.calls[0])
        XCTAssertEqual(refused.code, "out_of_stock")
        let debit1 = place.advance(bytes("o-1"), order1, "reserve", reserve1.status, reserve1.payload)
        order1 = written(debit1)
        let refusedDebit = grid.run(debit1.calls[0])
        XCTAssertEqual(refusedDebit.code, "insufficient_funds")
        let release1 = place.advance(bytes("o-1"), order1, "debit", refusedDebit.status, refusedDebit.payload)
        order1 = written(release1)
        _ = grid.run(release1.calls[0])
        let copy = grid.run(place.resume(bytes("o-2"), order2)!.calls[0])
        XCTAssertEqual(copy.status, .ok)
        XCTAssertEqual(grid.int("product", "AAPL", "stock"), 2)
        // o-2 learns of the refusal first: it fails, and its release undoes the copy.
        let failing = place.advance(bytes("o-2"), order2, "reserve", refused.status, refused.payload)
        order2 = written(failing)
        XCTAssertEqual(failing.calls.map(\.step), ["release"])
        _ = grid.run(failing.calls[0])
        XCTAssertEqual(grid.int("product", "AAPL", "stock"), 5)
        // The copy's success arriving late sends the release again; it finds nothing more to undo.
        let late = place.advance(bytes("o-2"), order2, "reserve", copy.status, copy.payload)
        XCTAssertEqual(late.calls.map(\.step), ["release"])
        _ = grid.run(late.calls[0])
        XCTAssertEqual(grid.value("product", "AAPL"), #"{"pending":{},"price":15000,"stock":5,"symbol":"AAPL"}"#)
        // And once failed, a late success reopens the compensation (written, so a crash cannot lose it).
        let settled = written(place.advance(bytes("o-2"), order2, "release", .ok, bytes(#"{"stock":5}"#)))
        XCTAssertEqual(OrderState.of(settled), "failed")
        let reopened = place.advance(bytes("o-2"), settled, "reserve", copy.status, copy.payload)
        XCTAssertEqual(OrderState.of(written(reopened)), "compensating")
        XCTAssertEqual(reopened.calls.map(\.step), ["release"])
        XCTAssertNil(result(reopened))
        XCTAssertEqual(result(place.advance(bytes("o-2"), written(failing), "release", .ok, bytes("{}")))?.code, "out_of_stock")
        XCTAssertEqual(place.advance(bytes("o-2"), written(reopened), "release", .ok, bytes("{}")).write, .put(settled))
    }
}
