import Foundation
import GridClient
import GridCore
import GridRuntime
import GridWire
import XCTest
import ZeroMQ

final class InProcessGridTests: XCTestCase {
    func testPutGetDelCasAcrossTwoSectionsWithTwoUnitsEach() throws {
        let grid = try InProcessGrid(yaml: twoSectionYAML)
        defer { grid.stop() }
        XCTAssertTrue(grid.waitUntilReady())
        let client = try grid.client()
        defer { client.close() }

        var servedBy: [String: Set<String>] = [:]
        for section in ["customer", "product"] {
            for index in 0..<40 {
                let key = "\(section)-\(index)"
                let put = try client.call(section, "put", key: key, arguments: [Array("{\"n\":\(index)}".utf8)])
                XCTAssertEqual(put.status, .ok, put.text)
                XCTAssertGreaterThan(put.version, 0)
                servedBy[section, default: []].insert(put.unit)
                let get = try client.call(section, "get", key: key)
                XCTAssertEqual(get.status, .ok)
                XCTAssertEqual(get.text, "{\"n\":\(index)}")
                XCTAssertEqual(get.version, put.version)
                XCTAssertEqual(get.unit, put.unit, "a key is always served by its partition's primary")
            }
        }
        XCTAssertEqual(servedBy["customer"], ["customer-1", "customer-2"], "both units serve customer partitions")
        XCTAssertEqual(servedBy["product"], ["product-1", "product-2"])

        // The same key in two sections is two entries.
        XCTAssertEqual(try client.call("customer", "put", key: "shared", arguments: [Array("c".utf8)]).status, .ok)
        XCTAssertEqual(try client.call("product", "put", key: "shared", arguments: [Array("p".utf8)]).status, .ok)
        XCTAssertEqual(try client.call("customer", "get", key: "shared").text, "c")
        XCTAssertEqual(try client.call("product", "get", key: "shared").text, "p")

        // cas: right version writes, stale version conflicts and changes nothing.
        let current = try client.call("customer", "get", key: "customer-1")
        let swapped = try client.call("customer", "cas", key: "customer-1", arguments: [Array(String(current.version).utf8), Array("new".utf8)])
        XCTAssertEqual(swapped.status, .ok)
        XCTAssertGreaterThan(swapped.version, current.version)
        let stale = try client.call("customer", "cas", key: "customer-1", arguments: [Array(String(current.version).utf8), Array("lost".utf8)])
        XCTAssertEqual(stale.status, .conflict)
        XCTAssertEqual(stale.error?.code, "version_conflict")
        XCTAssertEqual(try client.call("customer", "get", key: "customer-1").text, "new")
        XCTAssertEqual(try client.call("customer", "cas", key: "fresh", arguments: [Array("0".utf8), Array("v".utf8)]).status, .ok)
        XCTAssertEqual(try client.call("customer", "cas", key: "fresh", arguments: [Array("0".utf8), Array("v".utf8)]).status, .conflict)

        // del, then get is 404, a second del is 404.
        XCTAssertEqual(try client.call("customer", "del", key: "customer-2").status, .ok)
        XCTAssertEqual(try client.call("customer", "get", key: "customer-2").status, .notFound)
        XCTAssertEqual(try client.call("customer", "del", key: "customer-2").status, .notFound)
        let reput = try client.call("customer", "put", key: "customer-2", arguments: [Array("again".utf8)])
        XCTAssertEqual(reput.status, .ok)

        // Status counts what the units served.
        let status = try XCTUnwrap(try grid.status())
        XCTAssertTrue(status.ready)
        XCTAssertGreaterThan(status.requests, 160)
        let customer = try XCTUnwrap(status.sections.first { $0.name == "customer" })
        XCTAssertEqual(customer.partitions.count, 31)
        XCTAssertTrue(customer.partitions.allSatisfy { $0.primary != nil })
        XCTAssertEqual(Set(customer.units.map(\.primaries)), [15, 16])
        XCTAssertLessThanOrEqual(customer.skew, 1)
    }

    func testPipelinedRequestsComeBackMatchedToTheirCorrelationIDs() throws {
        let grid = try InProcessGrid(yaml: twoSectionYAML)
        defer { grid.stop() }
        XCTAssertTrue(grid.waitUntilReady())
        let client = try grid.client()
        defer { client.close() }

        var expected: [UInt64: String] = [:]
        for index in 0..<2_000 {
            let id = try client.send("customer", "put", key: Array("k\(index)".utf8), arguments: [Array("v\(index)".utf8)])
            expected[id] = "k\(index)"
        }
        var versions: [String: UInt64] = [:]
        while versions.count < 2_000 {
            guard let (id, reply) = try client.receive(timeoutMilliseconds: 5_000) else { return XCTFail("replies stopped after \(versions.count)") }
            let key = try XCTUnwrap(expected[id], "a reply with an unknown correlation id")
            XCTAssertEqual(reply.status, .ok)
            XCTAssertNil(versions[key], "two replies for one request")
            versions[key] = reply.version
        }
        // Now 2,000 gets in flight: each reply carries the value of the key its id asked for.
        var asked: [UInt64: Int] = [:]
        for index in 0..<2_000 {
            asked[try client.send("customer", "get", key: Array("k\(index)".utf8))] = index
        }
        for _ in 0..<2_000 {
            guard let (id, reply) = try client.receive(timeoutMilliseconds: 5_000) else { return XCTFail("get replies stopped") }
            let index = try XCTUnwrap(asked.removeValue(forKey: id))
            XCTAssertEqual(reply.text, "v\(index)")
            XCTAssertEqual(reply.version, versions["k\(index)"])
        }
        XCTAssertTrue(asked.isEmpty)
    }

    func testAPlainMDPClientOverREQGetsTheSameValue() throws {
        let grid = try InProcessGrid(yaml: twoSectionYAML)
        defer { grid.stop() }
        XCTAssertTrue(grid.waitUntilReady())
        let client = try grid.client()
        defer { client.close() }
        XCTAssertEqual(try client.call("customer", "put", key: "42", arguments: [Array(#"{"balance":100}"#.utf8)]).status, .ok)

        let req = try Socket(grid.context, .req, linger: 0)
        defer { req.close() }
        try req.connect(grid.topology.broker.clients)
        _ = try req.send([Array("MDPC01".utf8), Array("customer".utf8), Array("get".utf8), Array("42".utf8)], blocking: true)
        let reply = try XCTUnwrap(try receive(req, timeoutMilliseconds: 5_000))
        XCTAssertEqual(reply, [Array("MDPC01".utf8), Array("customer".utf8), Array("200".utf8), Array(#"{"balance":100}"#.utf8)])

        _ = try req.send([Array("MDPC01".utf8), Array("customer".utf8), Array("get".utf8), Array("missing".utf8)], blocking: true)
        let missing = try XCTUnwrap(try receive(req, timeoutMilliseconds: 5_000))
        XCTAssertEqual(missing.count, 4)
        XCTAssertEqual(missing[2], Array("404".utf8))

        _ = try req.send([Array("MDPC01".utf8), Array("mmi.service".utf8), Array("customer".utf8)], blocking: true)
        XCTAssertEqual(try receive(req, timeoutMilliseconds: 5_000)?[2], Array("200".utf8))
        _ = try req.send([Array("MDPC01".utf8), Array("mmi.service".utf8), Array("nothing".utf8)], blocking: true)
        XCTAssertEqual(try receive(req, timeoutMilliseconds: 5_000)?[2], Array("404".utf8))
    }

    func testBadRequestsGetClearErrorsAndChangeNothing() throws {
        let grid = try InProcessGrid(yaml: twoSectionYAML)
        defer { grid.stop() }
        XCTAssertTrue(grid.waitUntilReady())
        let client = try grid.client()
        defer { client.close() }

        let unknownSection = try client.call("nosuch", "get", key: "1")
        XCTAssertEqual(unknownSection.status, .badRequest)
        XCTAssertEqual(unknownSection.error?.code, "unknown_section")
        let unknownOperation = try client.call("customer", "explode", key: "1")
        XCTAssertEqual(unknownOperation.error?.code, "unknown_operation")
        XCTAssertEqual(try client.call("customer", "get", key: "").error?.code, "bad_key")
        XCTAssertEqual(try client.call("customer", "put", key: "k").error?.code, "bad_arguments")
        XCTAssertEqual(try client.call("customer", "cas", key: "k", arguments: [Array("x".utf8), []]).error?.code, "bad_arguments")
        let big = [UInt8](repeating: 65, count: 40_000)
        let tooLarge = try client.call("customer", "put", key: "k", arguments: [big, big])
        XCTAssertEqual(tooLarge.status, .tooLarge)
        XCTAssertEqual(try client.call("customer", "get", key: "k").status, .notFound, "refused writes changed nothing")
    }

    func testRandomAndTruncatedFramesOnBothBrokerSocketsNeverStopTheGrid() throws {
        let grid = try InProcessGrid(yaml: twoSectionYAML)
        defer { grid.stop() }
        XCTAssertTrue(grid.waitUntilReady())
        let client = try grid.client()
        defer { client.close() }
        XCTAssertEqual(try client.call("customer", "put", key: "before", arguments: [Array("1".utf8)]).status, .ok)

        var random = SplitMix64(seed: 42)
        let headers: [[UInt8]] = [Array("MDPC01".utf8), Array("SGC02".utf8), Array("SGC01".utf8), Array("MDPW01".utf8), [], [1], [2], [3], [4], [5], [0x10], Array("customer".utf8), Array("get".utf8)]
        func frames() -> [[UInt8]] {
            (0..<Int(random.next() % 9)).map { _ in
                if random.next() % 2 == 0 { return headers[Int(random.next() % UInt64(headers.count))] }
                return (0..<Int(random.next() % 24)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            }.filter { _ in true }
        }
        let front = try Socket(grid.context, .dealer, linger: 0)
        let back = try Socket(grid.context, .dealer, linger: 0)
        defer { front.close(); back.close() }
        try front.connect(grid.topology.broker.clients)
        try back.connect(grid.topology.broker.units)
        var sent = 0
        for _ in 0..<3_000 {
            let message = frames()
            guard !message.isEmpty else { continue }
            _ = try front.send(message, blocking: true)
            _ = try back.send(message, blocking: true)
            sent += 1
        }
        // Truncated real requests: every prefix of a valid native request.
        let valid = ClientWire.encodeNativeRequest(correlation: [0, 0, 0, 0, 0, 0, 0, 9], requestID: RequestID(client: Array("fuzz".utf8), sequence: 1),
                                                   section: "customer", operation: "put", key: Array("x".utf8), arguments: [Array("y".utf8)])
        for length in 1..<valid.count { _ = try front.send(Array(valid.prefix(length)), blocking: true) }
        XCTAssertGreaterThan(sent, 2_000)
        // Drain whatever the broker answered, so the fuzzing sockets never block it.
        while try front.receive() != nil {}

        // The grid still answers correctly, and the fuzz did not write through.
        XCTAssertTrue(waitFor(timeoutMilliseconds: 5_000) { (try? client.call("customer", "get", key: "before"))?.text == "1" })
        XCTAssertEqual(try client.call("customer", "put", key: "after", arguments: [Array("2".utf8)]).status, .ok)
        XCTAssertEqual(try client.call("customer", "get", key: "after").text, "2")
        XCTAssertEqual(try client.call("customer", "get", key: "x").status, .notFound)
        let status = try XCTUnwrap(try grid.status())
        XCTAssertTrue(status.ready)
        XCTAssertGreaterThan(status.dropped, 0, "garbage is counted")
    }

    func testAUnitThatLeavesHasItsPartitionsTakenOverWithAHigherEpoch() throws {
        let grid = try InProcessGrid(yaml: twoSectionYAML)
        defer { grid.stop() }
        XCTAssertTrue(grid.waitUntilReady())
        let before = try XCTUnwrap(try grid.status()).sections.first { $0.name == "customer" }!
        grid.stopUnit("customer-2")
        XCTAssertTrue(waitFor(timeoutMilliseconds: 5_000) {
            let section = (try? grid.status())??.sections.first { $0.name == "customer" }
            return section?.partitions.allSatisfy { $0.primary == "customer-1" } == true
        })
        let after = try XCTUnwrap(try grid.status()).sections.first { $0.name == "customer" }!
        for (old, new) in zip(before.partitions, after.partitions) {
            XCTAssertEqual(new.epoch, old.primary == "customer-2" ? old.epoch + 1 : old.epoch)
        }
        let client = try grid.client()
        defer { client.close() }
        for index in 0..<20 {
            let reply = try client.call("customer", "put", key: "k\(index)", arguments: [Array("v".utf8)])
            XCTAssertEqual(reply.status, .ok)
            XCTAssertEqual(reply.unit, "customer-1")
        }
    }

    func testRangePartitionedSectionRoutesByRange() throws {
        let yaml = """
            grid: ranges
            broker: {clients: "tcp://127.0.0.1:1", units: "tcp://127.0.0.1:2", events: "tcp://127.0.0.1:3", heartbeat: 50ms}
            sections:
              customer:
                units: 4
                partitioning: range
                backups: 1
                ranges: [[0, 250000], [250000, 500000], [500000, 750000], [750000, 1000000]]
            """
        let grid = try InProcessGrid(yaml: yaml)
        defer { grid.stop() }
        XCTAssertTrue(grid.waitUntilReady())
        let client = try grid.client()
        defer { client.close() }
        XCTAssertEqual(try client.call("customer", "put", key: "100000", arguments: [Array("a".utf8)]).unit, "customer-1")
        XCTAssertEqual(try client.call("customer", "put", key: "600000", arguments: [Array("b".utf8)]).unit, "customer-3")
        XCTAssertEqual(try client.call("customer", "put", key: "999999", arguments: [Array("c".utf8)]).unit, "customer-4")
        XCTAssertEqual(try client.call("customer", "get", key: "1000000").error?.code, "bad_key")
        XCTAssertEqual(try client.call("customer", "get", key: "alice").error?.code, "bad_key")
    }

    private func receive(_ socket: Socket, timeoutMilliseconds: Int) throws -> [[UInt8]]? {
        var poller = Poller()
        poller.add(socket)
        try poller.poll(timeoutMilliseconds: timeoutMilliseconds)
        return try socket.receive()
    }
}

