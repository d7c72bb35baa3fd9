import Foundation
import GridClient
import GridCore
import GridWire
import XCTest
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// Partition-aware clients (`DirectConnection`, PROTOCOL.md 1.6) against the
/// real binary: requests go straight to the primary's unit, the unit checks
/// partition and epoch, and what the broker path guarantees still holds.
final class DirectClientTests: XCTestCase {
    var grid: TestGrid?

    override func tearDown() {
        grid?.stop()
        grid = nil
    }

    func startGrid(heartbeat: String = "50ms") throws -> TestGrid {
        let grid = try TestGrid(sections: """
              customer:
                units: 2
                partitions: 31
                backups: 1
                mode: sync
              ledger:
                units: 1
                partitioning: range
                ranges:
                  - [0, 1000]
                backups: 0
            """, heartbeat: heartbeat)
        self.grid = grid
        XCTAssertTrue(eventually(timeoutSeconds: 60) { self.customerWhole(grid) }, "grid not whole:\n\(grid.diagnostics)")
        return grid
    }

    /// Every customer partition has a primary and a caught-up backup (ledger has no backups).
    private func customerWhole(_ grid: TestGrid) -> Bool {
        guard let status = grid.status(), status["ready"] as? Bool == true else { return false }
        for section in grid.sections(status) where section["name"] as? String == "customer" {
            for partition in section["partitions"] as? [[String: Any]] ?? [] {
                guard partition["primary"] is String, (partition["backups"] as? [String])?.count == 1,
                      (partition["behind"] as? Int ?? 1) == 0 else { return false }
            }
        }
        return true
    }

    func testDirectRequestsReachThePrimaryAndAgreeWithTheBrokerPath() throws {
        let grid = try startGrid()
        let context = Context()
        let direct = try DirectConnection(context: context, endpoint: grid.endpoint)
        let broker = try GridConnection(context: context, endpoint: grid.endpoint)
        defer { direct.close(); broker.close() }
        XCTAssertEqual(direct.directPartitions, 31, "every customer partition has a direct route; the range section none")

        for index in 0..<200 {
            let id = try direct.send("customer", "put", key: Array("k\(index)".utf8), arguments: [Array("{\"n\":\(index)}".utf8)])
            let (replyID, reply) = try XCTUnwrap(try direct.receive(timeoutMilliseconds: 5_000), "put \(index) unanswered")
            XCTAssertEqual(replyID, id)
            XCTAssertEqual(reply.status, .ok, reply.text)
            XCTAssertTrue(reply.unit.hasPrefix("customer-"), "a unit answered: \(reply.unit)")
        }
        XCTAssertEqual(direct.sentDirect, 200)
        XCTAssertEqual(direct.sentThroughBroker, 0)
        XCTAssertEqual(direct.retriedThroughBroker, 0)

        // The same data through the broker, and the direct read names the unit the broker routes to.
        for index in stride(from: 0, to: 200, by: 7) {
            let viaBroker = try broker.call("customer", "get", key: "k\(index)")
            XCTAssertEqual(viaBroker.status, .ok)
            XCTAssertEqual(viaBroker.text, "{\"n\":\(index)}")
            let id = try direct.send("customer", "get", key: Array("k\(index)".utf8), arguments: [])
            let (replyID, viaUnit) = try XCTUnwrap(try direct.receive(timeoutMilliseconds: 5_000))
            XCTAssertEqual(replyID, id)
            XCTAssertEqual(viaUnit.text, viaBroker.text)
            XCTAssertEqual(viaUnit.version, viaBroker.version)
            XCTAssertEqual(viaUnit.unit, viaBroker.unit, "the broker and the table agree on the primary")
        }

        // A range-partitioned section goes through the broker.
        _ = try direct.send("ledger", "put", key: Array("42".utf8), arguments: [Array("{}".utf8)])
        let (_, ledger) = try XCTUnwrap(try direct.receive(timeoutMilliseconds: 5_000))
        XCTAssertEqual(ledger.status, .ok, ledger.text)
        XCTAssertEqual(direct.sentThroughBroker, 1)
    }

    func testAUnitRefusesMisdirectedAndMalformedDirectRequestsAndChangesNothing() throws {
        let grid = try startGrid()
        let status = try XCTUnwrap(GridStatus(decoding: Array(try Spacegrid.run(["status", "--json", "--broker", grid.endpoint], timeoutSeconds: 10).stdout.utf8)))
        let customer = try XCTUnwrap(status.sections.first { $0.name == "customer" })
        let unit = try XCTUnwrap(customer.units.first { !$0.clients.isEmpty }, "units report a client endpoint")
        // A key in a partition this unit leads, and another partition it leads.
        let ledHere = Set(customer.partitions.filter { $0.primary == unit.name }.map(\.partition))
        let key = try XCTUnwrap((0..<1_000).lazy.map { Array("victim-\($0)".utf8) }.first { ledHere.contains(Int(FNV1a.hash($0) % 31)) })
        let partition = Int(FNV1a.hash(key) % 31)
        let own = try XCTUnwrap(customer.partitions.first { $0.partition == partition })
        let wrong = try XCTUnwrap(customer.partitions.first { $0.primary == unit.name && $0.partition != partition }, "the unit leads two partitions")

        let context = Context()
        let socket = try Socket(context, .dealer, linger: 0)
        defer { socket.close() }
        try socket.connect(unit.clients)
        var correlation: UInt64 = 0
        func ask(_ frames: [[UInt8]]) throws -> ClientWire.NativeReply? {
            XCTAssertEqual(try socket.send(frames, blocking: true), .sent)
            var poller = Poller()
            poller.add(socket)
            guard try poller.poll(timeoutMilliseconds: 5_000) > 0, let reply = try socket.receive() else { return nil }
            return ClientWire.decodeNativeReply(reply)
        }
        func request(partition: Int, epoch: UInt64, section: String = "customer", operation: String = "put") -> [[UInt8]] {
            correlation += 1
            return ClientWire.encodeDirectRequest(
                correlation: ClientWire.correlation(correlation), requestID: RequestID(client: Array("direct-test".utf8), sequence: correlation),
                route: Route(partition: partition, epoch: epoch),
                section: Array(section.utf8), operation: Array(operation.utf8), key: key, arguments: [Array("{\"bad\":1}".utf8)])
        }

        // The key's partition is not the one named, though this unit leads that one at that epoch:
        // 421 wrong_partition (stored there, no lookup would find the key).
        let misplaced = try XCTUnwrap(try ask(request(partition: wrong.partition, epoch: wrong.epoch)))
        XCTAssertEqual(misplaced.status, .misdirected)
        XCTAssertTrue(String(decoding: misplaced.payload, as: UTF8.self).contains("wrong_partition"))
        // The right partition but an epoch this unit does not lead it under: 421 stale_epoch.
        let stale = try XCTUnwrap(try ask(request(partition: partition, epoch: own.epoch + 1_000)))
        XCTAssertEqual(stale.status, .misdirected)
        XCTAssertTrue(String(decoding: stale.payload, as: UTF8.self).contains("stale_epoch"), String(decoding: stale.payload, as: UTF8.self))
        // Another section: 400.
        let section = try XCTUnwrap(try ask(request(partition: partition, epoch: own.epoch, section: "ledger")))
        XCTAssertEqual(section.status, .badRequest)
        // A route frame of the wrong size: 400 malformed, the correlation echoed.
        var malformed = request(partition: partition, epoch: own.epoch)
        malformed[3] = [1, 2, 3]
        let reply = try XCTUnwrap(try ask(malformed))
        XCTAssertEqual(reply.status, .badRequest)
        XCTAssertEqual(reply.correlation, malformed[1])
        // A frame that is not a direct request at all is dropped; the unit lives on and still answers.
        XCTAssertEqual(try socket.send([Array("HELLO".utf8)], blocking: true), .sent)

        // Nothing of that was stored.
        let broker = try GridConnection(context: context, endpoint: grid.endpoint)
        defer { broker.close() }
        XCTAssertEqual(try broker.call("customer", "get", key: String(decoding: key, as: UTF8.self)).status, .notFound)
        // A correct direct request still works on the same socket.
        let good = try XCTUnwrap(try ask(request(partition: partition, epoch: own.epoch)))
        XCTAssertEqual(good.status, .ok)
    }

    /// A table read that fails (the broker paused) keeps the last table: the connection
    /// still goes straight to the primaries afterwards, not through the broker for good.
    func testAFailedTableReadKeepsTheDirectPath() throws {
        // A 2 s heartbeat: the pause below is no failure to the broker, and leases hold.
        let grid = try startGrid(heartbeat: "2s")
        let brokerPID = try XCTUnwrap(grid.brokerPID())
        let context = Context()
        let direct = try DirectConnection(context: context, endpoint: grid.endpoint)
        defer { direct.close() }
        XCTAssertEqual(direct.directPartitions, 31)
        kill(brokerPID, SIGSTOP)
        var paused = true
        defer { if paused { kill(brokerPID, SIGCONT) } }
        try direct.refresh()  // unanswered: it fails after its 2 s
        kill(brokerPID, SIGCONT)
        paused = false
        XCTAssertEqual(direct.directPartitions, 31, "the last table is kept")
        for index in 0..<20 {
            let id = try direct.send("customer", "put", key: Array("after-\(index)".utf8), arguments: [Array("{\"n\":\(index)}".utf8)])
            let (replyID, reply) = try XCTUnwrap(try direct.receive(timeoutMilliseconds: 10_000), "put \(index) unanswered")
            XCTAssertEqual(replyID, id)
            XCTAssertEqual(reply.status, .ok, reply.text)
        }
        XCTAssertEqual(direct.sentDirect, 20, "every request went straight to its primary")
    }

    func testASlowPrimaryIsWaitedForNotBypassed() throws {
        // A 2 s heartbeat: the broker declares a unit dead only after 6 s of silence.
        let grid = try startGrid(heartbeat: "2s")
        let status = try XCTUnwrap(GridStatus(decoding: Array(try Spacegrid.run(["status", "--json", "--broker", grid.endpoint], timeoutSeconds: 10).stdout.utf8)))
        let customer = try XCTUnwrap(status.sections.first { $0.name == "customer" })
        let key = Array("slow".utf8)
        let primary = try XCTUnwrap(customer.partitions.first { $0.partition == Int(FNV1a.hash(key) % 31) }?.primary)
        let pid = try XCTUnwrap(customer.units.first { $0.name == primary }?.pid)

        let context = Context()
        let direct = try DirectConnection(context: context, endpoint: grid.endpoint)
        defer { direct.close() }
        kill(pid, SIGSTOP)
        let id = try direct.send("customer", "put", key: key, arguments: [Array("{\"n\":1}".utf8)])
        // Past the connection's one-second look, well before the broker's six: the unit is slow, not gone.
        XCTAssertNil(try direct.receive(timeoutMilliseconds: 2_500), "no reply from a stopped unit")
        kill(pid, SIGCONT)
        let (replyID, reply) = try XCTUnwrap(try direct.receive(timeoutMilliseconds: 10_000), "the unit answers once it runs again")
        XCTAssertEqual(replyID, id)
        XCTAssertEqual(reply.status, .ok, reply.text)
        XCTAssertEqual(reply.unit, primary)
        XCTAssertEqual(direct.retriedThroughBroker, 0, "a request to a slow but leading unit is not sent twice")
    }

    func testSyncDirectWritesSurviveAKill9OfTheirPrimary() throws {
        let grid = try startGrid()
        let writer = try AcknowledgedWriter(endpoint: grid.endpoint, section: "customer", direct: true)
        try writer.run(milliseconds: 500)
        let busiest = grid.units().filter { $0.key.hasPrefix("customer") }.max { $0.value.primaries < $1.value.primaries }
        let (name, unit) = try XCTUnwrap(busiest)
        writer.markKill()
        kill(unit.pid, SIGKILL)
        try writer.run(milliseconds: 2_500)
        XCTAssertTrue(eventually(timeoutSeconds: 30) { self.customerWhole(grid) }, "grid did not heal after killing \(name):\n\(grid.diagnostics)")
        try writer.run(milliseconds: 500)
        try writer.drain()
        XCTAssertEqual(try writer.lostWrites(), [], "acknowledged direct writes lost")
        XCTAssertEqual(writer.errors, [], "the direct client saw errors instead of a delay")
        XCTAssertGreaterThan(writer.acknowledged.count, 200, "the writer made progress")
        let direct = try XCTUnwrap(writer.connection as? DirectConnection)
        XCTAssertGreaterThan(direct.sentDirect, 0)
        XCTAssertGreaterThan(direct.retriedThroughBroker, 0, "requests to the killed unit went again through the broker")
        print("direct writer: \(direct.sentDirect) sent direct, \(direct.retriedThroughBroker) retried through the broker, \(writer.timedOut) timed out")
    }

    /// F1.3: a primary paused beyond failure detection is deposed while a direct request for
    /// it waits in its socket. Resumed, its lease has run out: it never acknowledges the
    /// write (it answers 421, which sends the client through the broker), and the value the
    /// new primary serves never includes it. Before leases it answered 200 in async mode and
    /// the write vanished when it resynced.
    func testAPausedPrimaryNeverAcknowledgesADirectWriteAfterItWasDeposed() throws {
        let grid = try TestGrid(sections: """
              customer:
                units: 2
                partitions: 7
                backups: 1
                mode: async
            """, heartbeat: "50ms")
        self.grid = grid
        XCTAssertTrue(eventually(timeoutSeconds: 60) { grid.isWhole(backups: 1) }, grid.diagnostics)
        let status = try XCTUnwrap(GridStatus(decoding: Array(try Spacegrid.run(["status", "--json", "--broker", grid.endpoint], timeoutSeconds: 10).stdout.utf8)))
        let customer = try XCTUnwrap(status.sections.first { $0.name == "customer" })
        let unit = try XCTUnwrap(customer.units.first { $0.primaries > 0 })
        let ledHere = Set(customer.partitions.filter { $0.primary == unit.name }.map(\.partition))
        let key = try XCTUnwrap((0..<1_000).lazy.map { Array("zombie-\($0)".utf8) }.first { ledHere.contains(Int(FNV1a.hash($0) % 7)) })
        let partition = Int(FNV1a.hash(key) % 7)
        let epoch = try XCTUnwrap(customer.partitions.first { $0.partition == partition }?.epoch)

        kill(unit.pid, SIGSTOP)
        var resumed = false
        defer { if !resumed { kill(unit.pid, SIGCONT) } }
        XCTAssertTrue(eventually(timeoutSeconds: 10) { grid.units()[unit.name]?.pid != unit.pid }, "\(unit.name) was not declared dead")
        XCTAssertTrue(eventually(timeoutSeconds: 10) {
            (try? GridStatus(decoding: Array(Spacegrid.run(["status", "--json", "--broker", grid.endpoint], timeoutSeconds: 10).stdout.utf8)))?
                .sections.first { $0.name == "customer" }?.partitions.first { $0.partition == partition }?.primary.map { $0 != unit.name } ?? false
        }, "the partition did not move")

        // The stale table's direct write waits in the paused unit's socket.
        let context = Context()
        let socket = try Socket(context, .dealer, linger: 0)
        defer { socket.close() }
        try socket.connect(unit.clients)
        let request = ClientWire.encodeDirectRequest(
            correlation: ClientWire.correlation(1), requestID: RequestID(client: Array("zombie-test".utf8), sequence: 1),
            route: Route(partition: partition, epoch: epoch), section: Array("customer".utf8), operation: Array("put".utf8),
            key: key, arguments: [Array("from-the-zombie".utf8)])
        XCTAssertEqual(try socket.send(request, blocking: true), .sent)
        usleep(200_000)
        kill(unit.pid, SIGCONT)
        resumed = true

        var poller = Poller()
        poller.add(socket)
        if try poller.poll(timeoutMilliseconds: 5_000) > 0, let frames = try socket.receive(), let reply = ClientWire.decodeNativeReply(frames) {
            XCTAssertNotEqual(reply.status, .ok, "a deposed primary acknowledged a write: \(String(decoding: reply.payload, as: UTF8.self))")
        }
        let client = try GridConnection(context: context, endpoint: grid.endpoint)
        defer { client.close() }
        let read = try client.call("customer", "get", key: String(decoding: key, as: UTF8.self))
        XCTAssertNotEqual(read.text, "from-the-zombie", "the new primary never took the deposed one's write")
    }
}
