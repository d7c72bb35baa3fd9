import GridRuntime
import GridTopology
import GridWire
import XCTest

/// What `up` does about a section's size, from the broker's status alone.
final class ScaleReconcilerTests: XCTestCase {
    private let topology = Topology(grid: "g", broker: BrokerConfig(clients: "tcp://127.0.0.1:1", units: "tcp://127.0.0.1:2", events: "tcp://127.0.0.1:3"),
                                    sections: [SectionConfig(name: "customer", units: 2, backups: 1)])

    private func status(expected: Int, scaled: Bool, units: [(String, Int, Bool?)]) -> GridStatus {
        let members = units.map { name, held, draining -> GridStatus.UnitStatus in
            var unit = GridStatus.UnitStatus(name: name, pid: 1, primaries: held, backups: held, requests: 0, lastHeardMs: 0)
            unit.draining = draining
            return unit
        }
        var section = GridStatus.SectionStatus(name: "customer", partitioning: "hash", expectedUnits: expected, placed: true, orphans: 0, skew: 0,
                                               units: members, partitions: [])
        section.scaled = scaled
        return GridStatus(grid: "g", brokerPid: 1, ready: true, uptimeMs: 0, requests: 0, dropped: 0, refused: 0, promotions: 0, events: "", sections: [section])
    }

    func testScalingOutStartsTheMissingUnits() {
        var reconciler = ScaleReconciler(topology: topology)
        let running = ["customer": ["customer-1", "customer-2"]]
        XCTAssertEqual(reconciler.reconcile(status(expected: 2, scaled: false, units: [("customer-1", 5, nil), ("customer-2", 5, nil)]), running: running), [])
        XCTAssertEqual(reconciler.reconcile(status(expected: 4, scaled: true, units: [("customer-1", 5, false), ("customer-2", 5, false)]), running: running),
                       [.start(section: "customer", name: "customer-3"), .start(section: "customer", name: "customer-4")])
        XCTAssertEqual(reconciler.desired["customer"], 4)
    }

    func testScalingInStopsAUnitOnlyOnceItHoldsNothing() {
        var reconciler = ScaleReconciler(topology: topology)
        let running = ["customer": ["customer-1", "customer-2", "customer-3"]]
        let draining = status(expected: 2, scaled: true, units: [("customer-1", 5, false), ("customer-2", 5, false), ("customer-3", 2, true)])
        XCTAssertEqual(reconciler.reconcile(draining, running: running), [], "still holding partitions")
        let drained = status(expected: 2, scaled: true, units: [("customer-1", 5, false), ("customer-2", 5, false), ("customer-3", 0, true)])
        XCTAssertEqual(reconciler.reconcile(drained, running: running), [.retire(section: "customer", name: "customer-3")])
        // A surplus unit that never joined (or died) holds nothing either.
        let absent = status(expected: 2, scaled: true, units: [("customer-1", 5, false), ("customer-2", 5, false)])
        XCTAssertEqual(reconciler.reconcile(absent, running: running), [.retire(section: "customer", name: "customer-3")])
    }

    func testARestartedBrokerIsToldTheCountAgain() {
        var reconciler = ScaleReconciler(topology: topology)
        let running = ["customer": ["customer-1", "customer-2", "customer-3"]]
        _ = reconciler.reconcile(status(expected: 3, scaled: true, units: [("customer-1", 5, false), ("customer-2", 5, false), ("customer-3", 5, false)]),
                                 running: running)
        // A new broker knows only the topology's count, and drains nothing.
        let fresh = status(expected: 2, scaled: false, units: [("customer-1", 5, nil), ("customer-2", 5, nil), ("customer-3", 5, nil)])
        XCTAssertEqual(reconciler.reconcile(fresh, running: running), [.tellBroker(section: "customer", units: 3)])
        XCTAssertEqual(reconciler.desired["customer"], 3)
    }
}
