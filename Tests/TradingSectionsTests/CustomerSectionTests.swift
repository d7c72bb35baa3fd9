import GridCore
import TradingSections
import XCTest

/// The `customer` section's operations, on a tiny in-memory grid.
final class CustomerSectionTests: XCTestCase {
    private var grid = TestGrid()

    private func call(_ operation: String, _ key: String = "42", _ arguments: String? = nil) -> Reply {
        grid.call("customer", operation, key, arguments)
    }

    private func assertReply(_ reply: Reply, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(reply.status, .ok, reply.description, file: file, line: line)
        XCTAssertEqual(reply.text, expected, file: file, line: line)
    }

    /// Checks the error and that the entry did not change.
    private func assertRefused(_ operation: String, _ key: String = "42", _ arguments: String?, _ status: Status, _ code: String,
                               mentioning words: [String] = [], file: StaticString = #filePath, line: UInt = #line) {
        let before = grid.value("customer", key)
        let reply = call(operation, key, arguments)
        XCTAssertEqual(reply.status, status, "\(operation) \(arguments ?? "-"): \(reply)", file: file, line: line)
        XCTAssertEqual(reply.code, code, "\(operation) \(arguments ?? "-"): \(reply)", file: file, line: line)
        for word in words {
            XCTAssertTrue(reply.message.contains(word), "'\(reply.message)' should mention \(word)", file: file, line: line)
        }
        XCTAssertEqual(grid.value("customer", key), before, "a refusal changes nothing", file: file, line: line)
    }

    // MARK: - The seeds' example

    func testTheSeedsTrade() {
        grid.put("customer", "100000", #"{"balance":1000}"#)
        assertReply(call("trade", "100000", #"{"amount": 500, "stock": "AAPL"}"#), #"{"balance":500,"status":"success"}"#)
        XCTAssertEqual(grid.value("customer", "100000"), #"{"balance":500,"pending":{},"trades":[{"amount":500,"stock":"AAPL"}]}"#)
        assertRefused("trade", "100000", #"{"amount": 600, "stock": "AAPL"}"#, .conflict, "insufficient_funds", mentioning: ["500", "600"])
        XCTAssertEqual(grid.int("customer", "100000", "balance"), 500)
        assertReply(call("trade", "100000", #"{"amount":500,"stock":"MSFT"}"#), #"{"balance":0,"status":"success"}"#)
    }

    func testTradeKeepsTheLastTwentyTrades() {
        grid.put("customer", "7", #"{"balance":100000}"#)
        for amount in 1...25 { XCTAssertEqual(call("trade", "7", #"{"amount":\#(amount),"stock":"S\#(amount)"}"#).status, .ok) }
        let trades = grid.object("customer", "7")?["trades"] as? [[String: Any]]
        XCTAssertEqual(trades?.count, 20)
        XCTAssertEqual(trades?.first?["stock"] as? String, "S6", "the oldest are dropped")
        XCTAssertEqual(trades?.last?["stock"] as? String, "S25", "most recent last")
        XCTAssertEqual(grid.int("customer", "7", "balance"), 100000 - 325)
    }

    func testAPlainPutAccountIsAnAccount() {
        grid.put("customer", "42", #"{"balance":100}"#)
        assertReply(call("deposit", "42", #"{"amount":50}"#), #"{"balance":150}"#)
        XCTAssertEqual(grid.value("customer", "42"), #"{"balance":150,"pending":{},"trades":[]}"#)
        assertReply(call("debit", "42", #"{"amount":150}"#), #"{"balance":0}"#)
    }

    // MARK: - open, deposit

    func testOpen() {
        assertReply(call("open", "1", #"{"balance":2500}"#), #"{"balance":2500,"pending":{},"trades":[]}"#)
        XCTAssertEqual(grid.value("customer", "1"), #"{"balance":2500,"pending":{},"trades":[]}"#)
        assertReply(call("open", "2"), #"{"balance":0,"pending":{},"trades":[]}"#)
        assertReply(call("open", "3", "{}"), #"{"balance":0,"pending":{},"trades":[]}"#)
        assertRefused("open", "1", #"{"balance":5}"#, .conflict, "exists", mentioning: ["'1'"])
        XCTAssertEqual(grid.int("customer", "1", "balance"), 2500)
    }

    func testDepositOverflowIsRefused() {
        grid.put("customer", "42", #"{"balance":9223372036854775000}"#)
        assertRefused("deposit", "42", #"{"amount":1000}"#, .badRequest, "bad_arguments", mentioning: ["overflow"])
    }

    // MARK: - debit, credit, refund, commit

    func testDebitChecksTheBalance() {
        grid.put("customer", "42", #"{"balance":1000}"#)
        assertRefused("debit", "42", #"{"amount":1001}"#, .conflict, "insufficient_funds")
        assertRefused("debit", "42", #"{"amount":1001,"id":"o-1/debit"}"#, .conflict, "insufficient_funds")
        assertReply(call("debit", "42", #"{"amount":1000}"#), #"{"balance":0}"#)
        assertReply(call("debit", "42", #"{"amount":0}"#), #"{"balance":0}"#)
    }

    func testADebitWithAnIdIsAppliedOnceUntilSettled() {
        grid.put("customer", "42", #"{"balance":1000}"#)
        assertReply(call("debit", "42", #"{"amount":300,"id":"o-1/debit"}"#), #"{"balance":700}"#)
        XCTAssertEqual(grid.value("customer", "42"), #"{"balance":700,"pending":{"o-1/debit":300},"trades":[]}"#)
        let stored = grid.value("customer", "42")
        assertReply(call("debit", "42", #"{"amount":300,"id":"o-1/debit"}"#), #"{"balance":700}"#)
        XCTAssertEqual(grid.value("customer", "42"), stored, "a replay applies nothing")
        // A replay succeeds even when the balance could not pay it again.
        assertReply(call("debit", "42", #"{"amount":300,"id":"o-2/debit"}"#), #"{"balance":400}"#)
        assertReply(call("debit", "42", #"{"amount":300,"id":"o-2/debit"}"#), #"{"balance":400}"#)
        assertReply(call("commit", "42", #"{"id":"o-1/debit"}"#), #"{"balance":400}"#)
        XCTAssertEqual(grid.value("customer", "42"), #"{"balance":400,"pending":{"o-2/debit":300},"trades":[]}"#)
        assertReply(call("refund", "42", #"{"id":"o-1/debit"}"#), #"{"balance":400}"#)  // committed: nothing to undo
        assertReply(call("refund", "42", #"{"id":"o-2/debit"}"#), #"{"balance":700}"#)
        assertReply(call("refund", "42", #"{"id":"o-2/debit"}"#), #"{"balance":700}"#)  // undone once
        assertReply(call("refund", "42", #"{"id":"never"}"#), #"{"balance":700}"#)
        assertReply(call("commit", "42", #"{"id":"never"}"#), #"{"balance":700}"#)
        XCTAssertEqual(grid.value("customer", "42"), #"{"balance":700,"pending":{},"trades":[]}"#)
    }

    func testACreditWithAnIdIsAppliedOnceAndRefundUndoesIt() {
        grid.put("customer", "42", #"{"balance":100}"#)
        assertReply(call("credit", "42", #"{"amount":50}"#), #"{"balance":150}"#)
        assertReply(call("credit", "42", #"{"amount":50,"id":"c-1"}"#), #"{"balance":200}"#)
        assertReply(call("credit", "42", #"{"amount":50,"id":"c-1"}"#), #"{"balance":200}"#)
        XCTAssertEqual(grid.value("customer", "42"), #"{"balance":200,"pending":{"c-1":-50},"trades":[]}"#)
        assertReply(call("refund", "42", #"{"id":"c-1"}"#), #"{"balance":150}"#)
        assertReply(call("refund", "42", #"{"id":"c-1"}"#), #"{"balance":150}"#)
    }

    func testOperationsOnAMissingAccountAre404() {
        for (operation, arguments) in [("deposit", #"{"amount":1}"#), ("debit", #"{"amount":1}"#), ("credit", #"{"amount":1}"#),
                                       ("refund", #"{"id":"x"}"#), ("commit", #"{"id":"x"}"#), ("trade", #"{"amount":1,"stock":"AAPL"}"#)] {
            assertRefused(operation, "404", arguments, .notFound, "not_found", mentioning: ["'404'"])
        }
    }

    func testAnEntryThatIsNoAccountIsABadValue() {
        for value in ["hello", #"{"balance":"100"}"#, #"{"balance":1.5}"#, #"{"money":1}"#, #"{"balance":1,"pending":[1]}"#] {
            grid.put("customer", "9", value)
            assertRefused("deposit", "9", #"{"amount":1}"#, .badRequest, "bad_value", mentioning: ["'9'"])
            assertRefused("trade", "9", #"{"amount":1,"stock":"A"}"#, .badRequest, "bad_value")
        }
    }

    // MARK: - Bad arguments

    func testBadArgumentsForEveryOperation() {
        grid.put("customer", "42", #"{"balance":1000}"#)
        let cases: [(String, String?, [String])] = [
            ("open", "not json", ["JSON"]),
            ("open", #"{"balance":-1}"#, ["balance"]),
            ("open", #"{"balance":"10"}"#, ["balance", "integer"]),
            ("open", "[1]", ["object"]),
            ("deposit", nil, ["amount"]),
            ("deposit", "{}", ["missing", "amount"]),
            ("deposit", #"{"amount":0}"#, ["amount"]),
            ("deposit", #"{"amount":-5}"#, ["amount"]),
            ("deposit", #"{"amount":1.5}"#, ["amount"]),
            ("deposit", #"{"amount":null}"#, ["amount"]),
            ("deposit", #"{"amount":99999999999999999999}"#, ["amount"]),
            ("debit", "{", ["JSON"]),
            ("debit", #"{"amount":-1}"#, ["amount"]),
            ("debit", #"{"amount":1,"id":""}"#, ["id"]),
            ("debit", #"{"amount":1,"id":7}"#, ["id", "string"]),
            ("credit", #"{}"#, ["amount"]),
            ("credit", #"{"amount":-3}"#, ["amount"]),
            ("refund", "{}", ["id"]),
            ("refund", #"{"id":""}"#, ["id"]),
            ("commit", #"{"id":1}"#, ["id"]),
            ("commit", nil, ["id"]),
            ("trade", #"{"amount":500}"#, ["stock"]),
            ("trade", #"{"stock":"AAPL"}"#, ["amount"]),
            ("trade", #"{"amount":0,"stock":"AAPL"}"#, ["amount"]),
            ("trade", #"{"amount":10,"stock":""}"#, ["stock"]),
            ("trade", #""amount""#, ["object"]),
        ]
        for (operation, arguments, words) in cases {
            assertRefused(operation, "42", arguments, .badRequest, "bad_arguments", mentioning: words + [operation])
        }
        let twoFrames = grid.run("customer", "deposit", bytes("42"), [bytes("{}"), bytes("{}")])
        XCTAssertEqual(twoFrames.code, "bad_arguments")
        XCTAssertEqual(grid.int("customer", "42", "balance"), 1000)
    }

    func testUnknownOperationsAndDataOperations() {
        XCTAssertEqual(call("withdraw", "42", "{}").code, "unknown_operation")
        XCTAssertEqual(call("put", "42", #"{"balance":5}"#).status, .ok)
        XCTAssertEqual(call("get", "42").text, #"{"balance":5}"#)
        XCTAssertEqual(customerSection.operationNames,
                       ["get", "put", "del", "cas", "commit", "credit", "debit", "deposit", "open", "refund", "trade"])
    }
}
