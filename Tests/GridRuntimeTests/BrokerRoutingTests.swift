import Foundation
import GridClient
import GridCore
import GridRuntime
import GridTopology
import GridWire
import XCTest
import ZeroMQ

/// The broker's request lifecycle against hand-driven units (raw MDPW01 DEALERs), so a
/// unit can take requests and vanish without answering: what is routed again, in which
/// order, and what a late reply does (findings F2.3, F2.4 and F1.7 of the review).
final class BrokerRoutingTests: XCTestCase {
    /// A unit played by the test: registers, reads what the broker sends, replies by hand.
    final class FakeUnit {
        let socket: Socket
        let name: String
        private var poller = Poller()

        init(context: Context, endpoint: String, section: String, name: String) throws {
            self.name = name
            socket = try Socket(context, .dealer, linger: 0)
            try socket.connect(endpoint)
            poller.add(socket)
            let report = UnitReport(operations: ["get", "put", "del", "cas"], pid: 1, publisher: "tcp://127.0.0.1:1", replication: "tcp://127.0.0.1:2",
                                    incarnation: UInt64(abs(name.hashValue) % 1_000_000 + 1), stamp: 1)
            _ = try socket.send(UnitMessage.ready(section: section, unit: name, report: report).frames, blocking: true)
        }

        private var lastBeat: UInt64 = 0

        /// The next message from the broker, skipping heartbeats (up to `timeout` ms). The
        /// fake unit heartbeats meanwhile, so a short liveness does not declare it dead.
        func next(timeout: Int = 5_000) throws -> UnitMessage? {
            let deadline = monotonicMilliseconds() + UInt64(timeout)
            while monotonicMilliseconds() < deadline {
                if monotonicMilliseconds() - lastBeat >= 100 {
                    lastBeat = monotonicMilliseconds()
                    _ = try socket.send(UnitMessage.heartbeat().frames, blocking: true)
                }
                if let frames = try socket.receive() {
                    guard case .success(let message) = UnitMessage.decode(frames[...]) else { continue }
                    if case .heartbeat = message { continue }
                    return message
                }
                _ = try poller.poll(timeoutMilliseconds: 20)
            }
            return nil
        }

        /// Requests until `count` arrived (assignments in between are skipped).
        func requests(_ count: Int) throws -> [(envelope: [UInt8], client: [UInt8], arguments: [[UInt8]])] {
            var result: [(envelope: [UInt8], client: [UInt8], arguments: [[UInt8]])] = []
            while result.count < count, let message = try next() {
                if case .request(let client, let envelope, _, _, _, _, let arguments) = message { result.append((envelope, client, arguments)) }
            }
            return result
        }

        func reply(_ request: (envelope: [UInt8], client: [UInt8], arguments: [[UInt8]]), payload: String) throws {
            let reply = UnitMessage.reply(client: request.client, envelope: request.envelope, status: .ok, payload: Array(payload.utf8),
                                          meta: ReplyMeta(version: 1, unit: name).encoded)
            _ = try socket.send(reply.frames, blocking: true)
        }

        func leave() throws {
            _ = try socket.send(UnitMessage.disconnect.frames, blocking: true)
        }
    }

    private func broker(_ context: Context, lossGrace: String = "100ms", heartbeat: String = "1s", liveness: Int = 5) throws -> (ServiceThread, Topology) {
        let id = UUID().uuidString.prefix(8)
        let topology = try Topology.decode(yaml: """
            grid: routing
            broker:
              clients: inproc://clients-\(id)
              units: inproc://units-\(id)
              events: inproc://events-\(id)
              heartbeat: \(heartbeat)
              liveness: \(liveness)
              loss_grace: \(lossGrace)
            sections:
              customer:
                units: 1
                partitions: 1
                backups: 0
            """)
        let thread = ServiceThread(name: "broker") { signal in
            let broker = try Broker(topology: topology, context: context, logger: quietLogger("test.broker"))
            try broker.run(until: signal)
        }
        let probe = try GridConnection(context: context, endpoint: topology.broker.clients)
        defer { probe.close() }
        XCTAssertTrue(waitFor(timeoutMilliseconds: 5_000) { (try? probe.call("grid", "ping", key: "-", timeoutMilliseconds: 200))?.status == .ok })
        return (thread, topology)
    }

    /// F2.3 and F2.4: a unit vanishes with a connection's pipelined writes in flight (and two
    /// MDP requests of one DEALER to one service): every one is routed again, each connection's
    /// in the order it sent them.
    func testRequestsOfAUnitThatLeftAreRoutedAgainInTheOrderTheyArrived() throws {
        let context = Context()
        let (brokerThread, topology) = try broker(context)
        defer { brokerThread.stop() }
        let first = try FakeUnit(context: context, endpoint: topology.broker.units, section: "customer", name: "customer-1")
        defer { first.socket.close() }
        guard case .assign? = try first.next() else { return XCTFail("no ASSIGN") }

        let native = try GridConnection(context: context, endpoint: topology.broker.clients)
        defer { native.close() }
        let mdp = try Socket(context, .dealer, linger: 0)
        defer { mdp.close() }
        try mdp.connect(topology.broker.clients)
        for index in 0..<200 { _ = try native.send("customer", "put", key: Array("k".utf8), arguments: [Array("\(index)".utf8)]) }
        for index in 0..<2 {
            _ = try mdp.send([Array("MDPC01".utf8), Array("customer".utf8), Array("put".utf8), Array("m".utf8), Array("mdp-\(index)".utf8)], blocking: true)
        }
        XCTAssertEqual(try first.requests(202).count, 202, "the first unit received everything")
        try first.leave()

        // The partition waits for its grace (the unit may come back), then goes to the next unit.
        let second = try FakeUnit(context: context, endpoint: topology.broker.units, section: "customer", name: "customer-2")
        defer { second.socket.close() }
        let routed = try second.requests(202)
        XCTAssertEqual(routed.count, 202, "every request in flight was routed again, the two MDP ones included")
        let nativeOrder = routed.compactMap { $0.arguments.first.map { String(decoding: $0, as: UTF8.self) } }.compactMap(Int.init)
        XCTAssertEqual(nativeOrder, Array(0..<200), "a connection's writes keep their order")
        XCTAssertEqual(routed.compactMap { $0.arguments.first.map { String(decoding: $0, as: UTF8.self) } }.filter { $0.hasPrefix("mdp-") }, ["mdp-0", "mdp-1"])

        // F1.7: a late reply of the unit that left is dropped; the second unit's reply is what the client gets.
        try first.reply(routed[0], payload: "late")
        try second.reply(routed[0], payload: "new")
        let reply = try XCTUnwrap(try native.receive(timeoutMilliseconds: 5_000))
        XCTAssertEqual(reply.1.text, "new")
    }

    /// A unit killed with writes in flight: those sent before the broker saw its connection
    /// go wait in the broker, those sent after wait parked (the unit is unroutable); when it
    /// is declared dead all of them go to the next primary in the order they arrived.
    func testRequestsInFlightAndParkedForADeadUnitKeepTheirOrder() throws {
        let context = Context()
        let (brokerThread, topology) = try broker(context, heartbeat: "200ms", liveness: 3)
        defer { brokerThread.stop() }
        let first = try FakeUnit(context: context, endpoint: topology.broker.units, section: "customer", name: "customer-1")
        guard case .assign? = try first.next() else { return XCTFail("no ASSIGN") }
        let native = try GridConnection(context: context, endpoint: topology.broker.clients)
        defer { native.close() }
        for index in 0..<100 { _ = try native.send("customer", "put", key: Array("k".utf8), arguments: [Array("\(index)".utf8)]) }
        XCTAssertEqual(try first.requests(100).count, 100)
        first.socket.close()  // kill -9: no goodbye
        Thread.sleep(forTimeInterval: 0.1)
        for index in 100..<200 { _ = try native.send("customer", "put", key: Array("k".utf8), arguments: [Array("\(index)".utf8)]) }

        let second = try FakeUnit(context: context, endpoint: topology.broker.units, section: "customer", name: "customer-2")
        defer { second.socket.close() }
        let routed = try second.requests(200)
        let order = routed.compactMap { $0.arguments.first.map { String(decoding: $0, as: UTF8.self) } }.compactMap(Int.init)
        XCTAssertEqual(order, Array(0..<200), "the connection's writes keep their order")
    }
}
