import Foundation
import GridClient
import GridCore
import XCTest

/// The seeds' scenario (topologies/seed-trading.yaml) on an in-process grid:
/// customers partitioned by user-id ranges over four units.
final class SeedScenarioTests: XCTestCase {
    func seedYAML() throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("topologies/seed-trading.yaml")
        // Faster heartbeats for the test; the rest is the file as shipped.
        return try String(contentsOf: url, encoding: .utf8)
    }

    func json(_ object: [String: Any]) -> [[UInt8]] {
        [Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))]
    }

    func object(_ reply: GridReply) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(reply.payload))) as? [String: Any] ?? [:]
    }

    func testTradesAreServedByTheUnitOwningTheUserRange() throws {
        let grid = try InProcessGrid(yaml: try seedYAML())
        defer { grid.stop() }
        XCTAssertTrue(grid.waitUntilReady())
        let client = try grid.client()
        defer { client.close() }

        for user in ["100000", "600000"] {
            XCTAssertEqual(try client.call("customer", "put", key: user, arguments: [Array(#"{"balance":1000}"#.utf8)]).status, .ok)
        }
        let first = try client.call("customer", "trade", key: "100000", arguments: json(["amount": 500, "stock": "AAPL"]))
        XCTAssertEqual(first.status, .ok, first.text)
        XCTAssertEqual(first.text, #"{"balance":500,"status":"success"}"#)
        XCTAssertEqual(first.unit, "customer-1", "user 100000 lives in [0, 250000)")

        let third = try client.call("customer", "trade", key: "600000", arguments: json(["amount": 500, "stock": "AAPL"]))
        XCTAssertEqual(third.status, .ok, third.text)
        XCTAssertEqual(third.unit, "customer-3", "user 600000 lives in [500000, 750000)")

        let tooMuch = try client.call("customer", "trade", key: "100000", arguments: json(["amount": 600, "stock": "AAPL"]))
        XCTAssertEqual(tooMuch.error?.code, "insufficient_funds")
        XCTAssertEqual(tooMuch.unit, "customer-1")
        let account = object(try client.call("customer", "get", key: "100000"))
        XCTAssertEqual(account["balance"] as? Int, 500, "a refused trade changes nothing")
        XCTAssertEqual((account["trades"] as? [[String: Any]])?.count, 1)
    }

    func testAnOrderIsPlacedAcrossThreeSectionsAndAFailedOneChangesNothing() throws {
        let grid = try InProcessGrid(yaml: try seedYAML())
        defer { grid.stop() }
        XCTAssertTrue(grid.waitUntilReady())
        let client = try grid.client()
        defer { client.close() }
        XCTAssertEqual(try client.call("customer", "put", key: "42", arguments: [Array(#"{"balance":10000}"#.utf8)]).status, .ok)
        XCTAssertEqual(try client.call("product", "set", key: "AAPL", arguments: json(["price": 1500, "stock": 10])).status, .ok)

        let placed = try client.call("order", "place", key: "o-1", arguments: json(["customer": "42", "symbol": "AAPL", "quantity": 2]))
        XCTAssertEqual(placed.status, .ok, placed.text)
        XCTAssertEqual(object(placed)["status"] as? String, "placed")
        XCTAssertEqual(object(placed)["amount"] as? Int, 3000)
        XCTAssertEqual(object(try client.call("customer", "get", key: "42"))["balance"] as? Int, 7000)
        XCTAssertEqual(object(try client.call("product", "quote", key: "AAPL"))["stock"] as? Int, 8)

        // The same order id again: placed once.
        let again = try client.call("order", "place", key: "o-1", arguments: json(["customer": "42", "symbol": "AAPL", "quantity": 2]))
        XCTAssertEqual(again.text, placed.text)
        XCTAssertEqual(object(try client.call("customer", "get", key: "42"))["balance"] as? Int, 7000)

        // Too expensive: the reservation is released, the balance untouched.
        let failed = try client.call("order", "place", key: "o-2", arguments: json(["customer": "42", "symbol": "AAPL", "quantity": 5]))
        XCTAssertEqual(failed.status, .conflict, failed.text)
        XCTAssertEqual(object(failed)["reason"] as? String, "insufficient_funds")
        XCTAssertEqual(object(try client.call("customer", "get", key: "42"))["balance"] as? Int, 7000)
        XCTAssertEqual(object(try client.call("product", "quote", key: "AAPL"))["stock"] as? Int, 8)

        // Out of stock: nothing was reserved, nothing debited.
        let noStock = try client.call("order", "place", key: "o-3", arguments: json(["customer": "42", "symbol": "AAPL", "quantity": 9]))
        XCTAssertEqual(object(noStock)["reason"] as? String, "out_of_stock")
        XCTAssertEqual(object(try client.call("customer", "get", key: "42"))["balance"] as? Int, 7000)

        // The customer's orders, and the order's final state once its bookkeeping is done.
        XCTAssertTrue(waitFor(timeoutMilliseconds: 5_000) {
            (self.object((try? client.call("order", "get", key: "o-1")) ?? GridReply(status: .notFound, payload: []))["state"] as? String) == "done"
        })
        let orders = object(try client.call("order", "orders", key: "42"))
        XCTAssertEqual(orders["orders"] as? [String], ["o-1"])
    }
}
