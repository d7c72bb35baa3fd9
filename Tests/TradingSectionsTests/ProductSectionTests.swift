import GridCore
import TradingSections
import XCTest

/// The `product` section's operations.
final class ProductSectionTests: XCTestCase {
    private var grid = TestGrid()

    private func call(_ operation: String, _ key: String = "AAPL", _ arguments: String? = nil) -> Reply {
        grid.call("product", operation, key, arguments)
    }

    private func assertReply(_ reply: Reply, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(reply.status, .ok, reply.description, file: file, line: line)
        XCTAssertEqual(reply.text, expected, file: file, line: line)
    }

    private func assertRefused(_ operation: String, _ key: String = "AAPL", _ arguments: String?, _ status: Status, _ code: String,
                               mentioning words: [String] = [], file: StaticString = #filePath, line: UInt = #line) {
        let before = grid.value("product", key)
        let reply = call(operation, key, arguments)
        XCTAssertEqual(reply.status, status, "\(operation) \(arguments ?? "-"): \(reply)", file: file, line: line)
        XCTAssertEqual(reply.code, code, "\(operation) \(arguments ?? "-"): \(reply)", file: file, line: line)
        for word in words {
            XCTAssertTrue(reply.message.contains(word), "'\(reply.message)' should mention \(word)", file: file, line: line)
        }
        XCTAssertEqual(grid.value("product", key), before, "a refusal changes nothing", file: file, line: line)
    }

    func testSetAndQuote() {
        assertRefused("quote", "AAPL", nil, .notFound, "not_found", mentioning: ["'AAPL'"])
        assertReply(call("set", "AAPL", #"{"price":15000,"stock":100}"#), #"{"pending":{},"price":15000,"stock":100,"symbol":"AAPL"}"#)
        assertReply(call("quote"), #"{"price":15000,"stock":100,"symbol":"AAPL"}"#)
        assertReply(call("quote", "AAPL", "{}"), #"{"price":15000,"stock":100,"symbol":"AAPL"}"#)
        assertReply(call("set", "AAPL", #"{"price":0,"stock":0}"#), #"{"pending":{},"price":0,"stock":0,"symbol":"AAPL"}"#)
    }

    func testAPlainPutProductIsAProduct() {
        grid.put("product", "MSFT", #"{"price":40000,"stock":3}"#)
        assertReply(call("quote", "MSFT"), #"{"price":40000,"stock":3,"symbol":"MSFT"}"#)
        assertReply(call("reserve", "MSFT", #"{"quantity":2,"id":"o-1/reserve"}"#), #"{"price":40000,"stock":1}"#)
        XCTAssertEqual(grid.value("product", "MSFT"), #"{"pending":{"o-1/reserve":{"price":40000,"quantity":2}},"price":40000,"stock":1,"symbol":"MSFT"}"#)
    }

    func testReserveReleaseCommit() {
        _ = call("set", "AAPL", #"{"price":15000,"stock":10}"#)
        assertRefused("reserve", "AAPL", #"{"quantity":11,"id":"o-1/reserve"}"#, .conflict, "out_of_stock", mentioning: ["10", "11"])
        assertReply(call("reserve", "AAPL", #"{"quantity":4,"id":"o-1/reserve"}"#), #"{"price":15000,"stock":6}"#)
        assertReply(call("reserve", "AAPL", #"{"quantity":6,"id":"o-2/reserve"}"#), #"{"price":15000,"stock":0}"#)
        assertRefused("reserve", "AAPL", #"{"quantity":1,"id":"o-3/reserve"}"#, .conflict, "out_of_stock")
        // Replays reserve nothing, even with no stock left.
        assertReply(call("reserve", "AAPL", #"{"quantity":4,"id":"o-1/reserve"}"#), #"{"price":15000,"stock":0}"#)
        assertReply(call("release", "AAPL", #"{"id":"o-1/reserve"}"#), #"{"stock":4}"#)
        assertReply(call("release", "AAPL", #"{"id":"o-1/reserve"}"#), #"{"stock":4}"#)
        assertReply(call("release", "AAPL", #"{"id":"never"}"#), #"{"stock":4}"#)
        assertReply(call("commit", "AAPL", #"{"id":"o-2/reserve"}"#), #"{"stock":4}"#)
        assertReply(call("release", "AAPL", #"{"id":"o-2/reserve"}"#), #"{"stock":4}"#)  // committed: not undone
        assertReply(call("commit", "AAPL", #"{"id":"o-2/reserve"}"#), #"{"stock":4}"#)
        XCTAssertEqual(grid.value("product", "AAPL"), #"{"pending":{},"price":15000,"stock":4,"symbol":"AAPL"}"#)
    }

    func testAReplayAnswersTheOriginalPriceAndSetKeepsReservations() {
        _ = call("set", "AAPL", #"{"price":15000,"stock":10}"#)
        assertReply(call("reserve", "AAPL", #"{"quantity":2,"id":"o-1/reserve"}"#), #"{"price":15000,"stock":8}"#)
        assertReply(call("set", "AAPL", #"{"price":16000,"stock":50}"#),
                    #"{"pending":{"o-1/reserve":{"price":15000,"quantity":2}},"price":16000,"stock":50,"symbol":"AAPL"}"#)
        assertReply(call("reserve", "AAPL", #"{"quantity":2,"id":"o-1/reserve"}"#), #"{"price":15000,"stock":50}"#)
        assertReply(call("reserve", "AAPL", #"{"quantity":1,"id":"o-2/reserve"}"#), #"{"price":16000,"stock":49}"#)
        assertReply(call("release", "AAPL", #"{"id":"o-1/reserve"}"#), #"{"stock":51}"#)
    }

    func testMissingAndInvalidProducts() {
        for (operation, arguments) in [("quote", "{}"), ("reserve", #"{"quantity":1,"id":"x"}"#), ("release", #"{"id":"x"}"#), ("commit", #"{"id":"x"}"#)] {
            assertRefused(operation, "NOPE", arguments, .notFound, "not_found", mentioning: ["'NOPE'"])
        }
        for value in ["x", #"{"price":1}"#, #"{"price":"1","stock":2}"#, #"{"price":1,"stock":2,"pending":{"a":3}}"#] {
            grid.put("product", "BAD", value)
            for (operation, arguments) in [("quote", "{}"), ("set", #"{"price":1,"stock":1}"#), ("reserve", #"{"quantity":1,"id":"x"}"#),
                                           ("release", #"{"id":"x"}"#), ("commit", #"{"id":"x"}"#)] {
                assertRefused(operation, "BAD", arguments, .badRequest, "bad_value", mentioning: ["'BAD'"])
            }
        }
    }

    func testBadArgumentsForEveryOperation() {
        _ = call("set", "AAPL", #"{"price":15000,"stock":10}"#)
        let cases: [(String, String?, [String])] = [
            ("set", nil, ["price"]),
            ("set", #"{"price":1}"#, ["stock"]),
            ("set", #"{"stock":1}"#, ["price"]),
            ("set", #"{"price":-1,"stock":1}"#, ["price"]),
            ("set", #"{"price":1,"stock":-1}"#, ["stock"]),
            ("set", #"{"price":1.25,"stock":1}"#, ["price"]),
            ("set", "nope", ["JSON"]),
            ("quote", "nope", ["JSON"]),
            ("quote", "[]", ["object"]),
            ("reserve", #"{"quantity":1}"#, ["id"]),
            ("reserve", #"{"id":"o-1/reserve"}"#, ["quantity"]),
            ("reserve", #"{"quantity":0,"id":"o-1/reserve"}"#, ["quantity"]),
            ("reserve", #"{"quantity":-2,"id":"o-1/reserve"}"#, ["quantity"]),
            ("reserve", #"{"quantity":"2","id":"o-1/reserve"}"#, ["quantity", "integer"]),
            ("reserve", #"{"quantity":1,"id":""}"#, ["id"]),
            ("release", "{}", ["id"]),
            ("release", #"{"id":""}"#, ["id"]),
            ("commit", #"{"id":null}"#, ["id"]),
            ("commit", "", ["id"]),
        ]
        for (operation, arguments, words) in cases {
            assertRefused(operation, "AAPL", arguments, .badRequest, "bad_arguments", mentioning: words + [operation])
        }
    }

    func testOperationNames() {
        XCTAssertEqual(productSection.operationNames, ["get", "put", "del", "cas", "commit", "quote", "release", "reserve", "set"])
    }
}
