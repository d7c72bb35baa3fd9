import GridCore
import TradingSections
import XCTest

/// The `order` section's operations (the index) and `place`'s argument checks.
final class OrderSectionTests: XCTestCase {
    private var grid = TestGrid()
    private let place = orderSection.workflows["place"]!

    private func call(_ operation: String, _ key: String, _ arguments: String? = nil) -> Reply {
        grid.call("order", operation, key, arguments)
    }

    private func assertRefused(_ operation: String, _ key: String, _ arguments: String?, _ code: String, mentioning words: [String] = [],
                               file: StaticString = #filePath, line: UInt = #line) {
        let before = grid.value("order", key)
        let reply = call(operation, key, arguments)
        XCTAssertEqual(reply.status, code == "not_found" ? .notFound : .badRequest, reply.description, file: file, line: line)
        XCTAssertEqual(reply.code, code, reply.description, file: file, line: line)
        for word in words {
            XCTAssertTrue(reply.message.contains(word), "'\(reply.message)' should mention \(word)", file: file, line: line)
        }
        XCTAssertEqual(grid.value("order", key), before, file: file, line: line)
    }

    func testTheOrderIndex() {
        XCTAssertEqual(call("orders", "42").text, #"{"customer":"42","orders":[]}"#)
        XCTAssertEqual(call("orders", "42", "{}").text, #"{"customer":"42","orders":[]}"#)
        XCTAssertEqual(call("index", "42", #"{"order":"o-1"}"#).text, #"{"count":1,"customer":"42"}"#)
        XCTAssertEqual(call("index", "42", #"{"order":"o-2"}"#).text, #"{"count":2,"customer":"42"}"#)
        XCTAssertEqual(call("index", "42", #"{"order":"o-1"}"#).text, #"{"count":2,"customer":"42"}"#, "idempotent")
        XCTAssertEqual(call("orders", "42").text, #"{"customer":"42","orders":["o-1","o-2"]}"#)
        XCTAssertEqual(call("get", "42").text, #"{"customer":"42","orders":["o-1","o-2"]}"#)
        XCTAssertEqual(call("orders", "7").text, #"{"customer":"7","orders":[]}"#)
    }

    func testTheIndexKeepsTheMostRecentThousand() {
        for number in 1...1005 { XCTAssertEqual(call("index", "9", #"{"order":"o-\#(number)"}"#).status, .ok) }
        let orders = grid.object("order", "9")?["orders"] as? [String]
        XCTAssertEqual(orders?.count, 1000)
        XCTAssertEqual(orders?.first, "o-6")
        XCTAssertEqual(orders?.last, "o-1005")
    }

    func testIndexAndOrdersRefuseBadKeysArgumentsAndValues() {
        assertRefused("orders", "o-1", nil, "bad_arguments", mentioning: ["customer id", "orders"])
        assertRefused("orders", "", nil, "bad_arguments")
        assertRefused("orders", "42", "nope", "bad_arguments", mentioning: ["JSON"])
        assertRefused("index", "o-1", #"{"order":"o-2"}"#, "bad_arguments", mentioning: ["customer id"])
        assertRefused("index", "42", "{}", "bad_arguments", mentioning: ["order"])
        assertRefused("index", "42", #"{"order":"17"}"#, "bad_arguments", mentioning: ["order", "non-digit"])
        assertRefused("index", "42", #"{"order":""}"#, "bad_arguments", mentioning: ["order"])
        assertRefused("index", "42", #"{"order":17}"#, "bad_arguments", mentioning: ["order", "string"])
        grid.put("order", "5", "garbage")
        assertRefused("orders", "5", nil, "bad_value", mentioning: ["'5'"])
        assertRefused("index", "5", #"{"order":"o-1"}"#, "bad_value")
    }

    func testPlaceRefusesBadArgumentsAndKeys() {
        let cases: [(String, String?, [String])] = [
            ("42", #"{"customer":"42","symbol":"AAPL","quantity":1}"#, ["order id", "customer id"]),
            ("", #"{"customer":"42","symbol":"AAPL","quantity":1}"#, ["order id"]),
            ("o-1", nil, ["customer"]),
            ("o-1", "not json", ["JSON"]),
            ("o-1", #"{"symbol":"AAPL","quantity":1}"#, ["customer"]),
            ("o-1", #"{"customer":"42","quantity":1}"#, ["symbol"]),
            ("o-1", #"{"customer":"42","symbol":"AAPL"}"#, ["quantity"]),
            ("o-1", #"{"customer":42,"symbol":"AAPL","quantity":1}"#, ["customer", "string"]),
            ("o-1", #"{"customer":"bob","symbol":"AAPL","quantity":1}"#, ["customer", "digits"]),
            ("o-1", #"{"customer":"42","symbol":"","quantity":1}"#, ["symbol"]),
            ("o-1", #"{"customer":"42","symbol":"AAPL","quantity":0}"#, ["quantity"]),
            ("o-1", #"{"customer":"42","symbol":"AAPL","quantity":-1}"#, ["quantity"]),
            ("o-1", #"{"customer":"42","symbol":"AAPL","quantity":1.5}"#, ["quantity"]),
        ]
        for (key, arguments, words) in cases {
            let decision = place.start(OperationInput(key: bytes(key), value: nil, version: 0, arguments: arguments.map { [bytes($0)] } ?? []))
            XCTAssertEqual(decision.write, .none)
            XCTAssertEqual(decision.calls, [])
            let result = decision.result.map { Reply(status: $0.status, payload: $0.payload) }
            XCTAssertEqual(result?.status, .badRequest, "\(key) \(arguments ?? "-")")
            XCTAssertEqual(result?.code, "bad_arguments", "\(key) \(arguments ?? "-")")
            for word in words + ["place"] {
                XCTAssertTrue(result?.message.contains(word) ?? false, "'\(result?.message ?? "")' should mention \(word)")
            }
        }
    }

    func testPlaceOnAnEntryThatIsNoOrderIsABadValue() {
        let decision = place.start(OperationInput(key: bytes("o-1"), value: bytes(#"{"balance":1}"#), version: 3,
                                                  arguments: [bytes(#"{"customer":"42","symbol":"AAPL","quantity":1}"#)]))
        XCTAssertEqual(decision.write, .none)
        XCTAssertEqual(decision.result.map { Reply(status: $0.status, payload: $0.payload).code }, "bad_value")
    }

    func testOperationNames() {
        XCTAssertEqual(orderSection.operationNames, ["get", "put", "del", "cas", "index", "orders", "place"])
        XCTAssertEqual(SectionCatalog.all.map(\.name), ["customer", "product", "order"])
    }
}
