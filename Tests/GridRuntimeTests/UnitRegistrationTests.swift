import Foundation
import GridClient
import GridCore
import GridRuntime
import GridWire
import XCTest
import ZeroMQ

/// A real unit against a broker played by the test (a raw ROUTER), so the order of what the
/// unit sends when it registers again can be seen frame by frame.
final class UnitRegistrationTests: XCTestCase {
    /// A unit told to register again answers what it held 421 on its old connection and
    /// says READY first on the new one. A reply first on the new connection comes from a
    /// routing id the broker does not know: the broker answers DISCONNECT, and the unit's
    /// second READY under its own name fails over everything it was just given.
    func testAUnitRegisteringAgainSaysREADYBeforeAnythingElse() throws {
        let context = Context()
        let endpoint = "inproc://units-\(UUID().uuidString.prefix(8))"
        let broker = try Socket(context, .router, linger: 0)
        defer { broker.close() }
        try broker.bind(endpoint)
        var poller = Poller()
        poller.add(broker)

        /// The next (routing id, message) from the unit within `timeout` ms, heartbeats and reports skipped.
        func next(timeout: Int = 5_000) throws -> (id: [UInt8], message: UnitMessage)? {
            let deadline = monotonicMilliseconds() + UInt64(timeout)
            while monotonicMilliseconds() < deadline {
                if let frames = try broker.receive(), frames.count > 1, case .success(let message) = UnitMessage.decode(frames[1...]) {
                    switch message {
                    case .heartbeat, .report: continue
                    default: return (frames[0], message)
                    }
                }
                _ = try poller.poll(timeoutMilliseconds: 20)
            }
            return nil
        }

        let configuration = ProcessingUnit.Configuration(section: "customer", name: "customer-1", broker: endpoint, heartbeatMilliseconds: 1_000,
                                                         liveness: 5, mode: .sync, partitionCount: 1)
        let unit = ServiceThread(name: "customer-1") { signal in
            let unit = try ProcessingUnit(configuration: configuration, context: context, logger: quietLogger("test.unit"))
            try unit.run(until: signal)
        }
        defer { unit.stop() }

        guard let (first, ready) = try next(), case .ready(_, _, let report) = ready else { return XCTFail("no READY") }
        // Primary of the only partition, with a backup in sync that never acknowledges: a
        // sync write is held.
        let assignment = Assignment(lease: Lease(partition: 0, epoch: 1, role: .primary), primary: "customer-1", backups: ["customer-2"],
                                    inSync: ["customer-2"], incarnations: ["customer-2": 1])
        let body = AssignBody(assign: 1, stamp: report.stamp, assignments: [assignment],
                              peers: ["customer-2": .init(publisher: "inproc://nobody-pub", replication: "inproc://nobody-rep", incarnation: 1)])
        _ = try broker.send(first, UnitMessage.assign(body).frames)
        let envelope: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 7]  // the broker's routing number
        let request = UnitMessage.request(client: Array("client".utf8), envelope: envelope, route: Route(partition: 0, epoch: 1),
                                          requestID: [], operation: Array("put".utf8), key: Array("k".utf8), arguments: [Array("v".utf8)])
        _ = try broker.send(first, request.frames)
        XCTAssertNil(try next(timeout: 300), "the write is held for the backup")

        _ = try broker.send(first, UnitMessage.disconnect.frames)
        var fromOld: [UnitMessage] = []
        var firstFromNew: UnitMessage?
        while firstFromNew == nil, let (id, message) = try next() {
            if id == first { fromOld.append(message) } else { firstFromNew = message }
        }
        guard case .ready? = firstFromNew else { return XCTFail("the new connection's first message is \(String(describing: firstFromNew)), not READY") }
        XCTAssertTrue(fromOld.contains {
            if case .reply(_, let replied, let status, _, _) = $0 { return status == .misdirected && replied == envelope }
            return false
        }, "the held write is answered 421 on the connection it came by: \(fromOld)")
    }
}
