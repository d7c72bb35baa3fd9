import Foundation
import GridClient
import GridCore
import XCTest
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// Thousands of `order.place` workflows while units of every section are
/// killed with `kill -9` and restarted; then money and stock must add up.
final class ChaosTests: XCTestCase {
    var grid: TestGrid?

    override func tearDown() {
        grid?.stop()
        grid = nil
    }

    func json(_ object: [String: Any]) -> [[UInt8]] {
        [Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))]
    }

    func object(_ reply: GridReply) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(reply.payload))) as? [String: Any] ?? [:]
    }

    func testMoneyAndStockAreConservedWhileUnitsOfEverySectionAreKilled() throws {
        let grid = try TestGrid(sections: """
              customer:
                units: 2
                partitions: 31
                backups: 1
              product:
                units: 2
                partitions: 13
                backups: 1
              order:
                units: 2
                partitions: 31
                backups: 1
            """)
        self.grid = grid
        XCTAssertTrue(eventually(timeoutSeconds: 30) { grid.isWhole(backups: 1) }, grid.log)
        let context = Context()
        let client = try GridConnection(context: context, endpoint: grid.endpoint)
        defer { client.close() }

        // 60 customers, some poor; 6 products, some scarce: some orders must fail either way.
        let customers = 60, products = 6
        var startMoney = 0, startStock = 0
        for id in 0..<customers {
            let balance = id % 5 == 0 ? 300 : 20_000
            startMoney += balance
            XCTAssertEqual(try client.call("customer", "put", key: "\(id)", arguments: [Array("{\"balance\":\(balance)}".utf8)]).status, .ok)
        }
        for index in 0..<products {
            let stock = index == 0 ? 30 : 400
            startStock += stock
            XCTAssertEqual(try client.call("product", "set", key: "P\(index)", arguments: json(["price": 100 * (index + 1), "stock": stock])).status, .ok)
        }

        var random = SplitMix64(seed: 7)
        let total = Int(ProcessInfo.processInfo.environment["SPACEGRID_CHAOS_ORDERS"] ?? "") ?? 3_000
        var inFlight: [UInt64: (id: String, sentAt: Date)] = [:]
        var placed: Set<String> = [], failed: Set<String> = [], unanswered: Set<String> = [], other: [String] = []
        var sent = 0
        var kills: [String] = []
        let killEvery = max(1, total / 7)
        let sections = ["customer", "product", "order"]
        while sent < total || !inFlight.isEmpty {
            while sent < total && inFlight.count < 64 {
                let id = "o-\(sent)"
                let order: [String: Any] = ["customer": "\(random.below(customers))", "symbol": "P\(random.below(products))", "quantity": 1 + random.below(4)]
                let correlation = try client.send("order", "place", key: Array(id.utf8), arguments: json(order))
                inFlight[correlation] = (id, Date())
                sent += 1
                if sent % killEvery == 0 && kills.count < 6 {
                    // kill -9 the busiest unit of the next section; `spacegrid up` restarts it.
                    let section = sections[kills.count % 3]
                    let victim = grid.units().filter { $0.key.hasPrefix(section) }.max { $0.value.primaries < $1.value.primaries }
                    if let victim {
                        kill(victim.value.pid, SIGKILL)
                        kills.append(victim.key)
                    }
                }
            }
            if let (correlation, reply) = try client.receive(timeoutMilliseconds: 200), let request = inFlight.removeValue(forKey: correlation) {
                let status = object(reply)["status"] as? String
                if reply.status == .ok && status == "placed" { placed.insert(request.id) }
                else if reply.status == .conflict && status == "failed" { failed.insert(request.id) }
                else { other.append("\(request.id): \(reply.status.rawValue) \(reply.text)") }
            }
            let now = Date()
            for (correlation, request) in inFlight where now.timeIntervalSince(request.sentAt) > 20 {
                inFlight[correlation] = nil
                unanswered.insert(request.id)
            }
        }
        print("chaos: \(total) orders, \(placed.count) placed, \(failed.count) failed, \(unanswered.count) unanswered, \(other.count) other replies; killed \(kills)")
        XCTAssertEqual(kills.count, 6, "units of every section were killed")
        XCTAssertGreaterThan(placed.count, total / 4)
        XCTAssertGreaterThan(failed.count, 0, "some orders were bound to fail")
        XCTAssertEqual(other.prefix(5), [], "every answered order is placed or failed")

        // Every workflow finishes: placed orders reach done, failed ones failed; none is left half done.
        XCTAssertTrue(eventually(timeoutSeconds: 60) { grid.isWhole(backups: 1) }, grid.log)
        var states: [String: [String: Any]] = [:]
        let finished = eventually(timeoutSeconds: 90) {
            for index in 0..<total where !["done", "failed"].contains(states["o-\(index)"]?["state"] as? String ?? "") {
                guard let reply = try? client.call("order", "get", key: "o-\(index)", timeoutMilliseconds: 3_000) else { return false }
                if reply.status == .ok { states["o-\(index)"] = object(reply) }
                else if reply.status == .notFound { states["o-\(index)"] = ["state": "failed", "never": true] }
            }
            return (0..<total).allSatisfy { ["done", "failed"].contains(states["o-\($0)"]?["state"] as? String ?? "") }
        }
        let pending = (0..<total).filter { !["done", "failed"].contains(states["o-\($0)"]?["state"] as? String ?? "") }
        XCTAssertTrue(finished, "workflows left unfinished: \(pending.prefix(10).map { "o-\($0): \(states["o-\($0)"] ?? [:])" })")

        // Reported outcomes match the stored ones: placed exactly once, failed changed nothing.
        for id in placed { XCTAssertEqual(states[id]?["state"] as? String, "done", "\(id) was reported placed") }
        for id in failed { XCTAssertEqual(states[id]?["state"] as? String, "failed", "\(id) was reported failed") }

        var money = 0, stock = 0, spent = 0, sold = 0
        for id in 0..<customers {
            let account = object(try client.call("customer", "get", key: "\(id)"))
            money += account["balance"] as? Int ?? 0
            XCTAssertTrue((account["pending"] as? [String: Any] ?? [:]).isEmpty, "customer \(id) still has pending steps: \(account)")
        }
        for index in 0..<products {
            let product = object(try client.call("product", "get", key: "P\(index)"))
            stock += product["stock"] as? Int ?? 0
            XCTAssertTrue((product["pending"] as? [String: Any] ?? [:]).isEmpty, "P\(index) still has pending steps: \(product)")
        }
        for (_, order) in states where order["state"] as? String == "done" {
            spent += order["amount"] as? Int ?? 0
            sold += order["quantity"] as? Int ?? 0
        }
        print("chaos: money \(money) + spent \(spent) = \(money + spent) (start \(startMoney)); stock \(stock) + sold \(sold) = \(stock + sold) (start \(startStock))")
        XCTAssertEqual(money + spent, startMoney, "money is conserved")
        XCTAssertEqual(stock + sold, startStock, "stock is conserved")
    }
}
