import GridRuntime
import GridTopology
import GridWire
import XCTest

/// Scaling by load, from statuses alone: up after the load stayed above the target for
/// the cooldown, down after it stayed well below, within min and max, never twice
/// within a cooldown, and not while a change is still being carried out.
final class AutoscalerTests: XCTestCase {
    private let topology = Topology(grid: "g", broker: BrokerConfig(clients: "tcp://127.0.0.1:1", units: "tcp://127.0.0.1:2", events: "tcp://127.0.0.1:3"),
                                    sections: [SectionConfig(name: "customer", units: 2, backups: 1,
                                                             autoscale: AutoscaleConfig(min: 2, max: 3, targetPerUnit: 100, cooldownMilliseconds: 3_000)),
                                               SectionConfig(name: "product", units: 2)])

    /// A status in which `customer` has `units` units whose counters total `requests`.
    private func status(units: Int, requests: UInt64, expected: Int? = nil, moving: Bool = false) -> GridStatus {
        let members = (1...units).map { index in
            GridStatus.UnitStatus(name: "customer-\(index)", pid: 1, primaries: 1, backups: 1,
                                  requests: requests / UInt64(units), lastHeardMs: 0)
        }
        var section = GridStatus.SectionStatus(name: "customer", partitioning: "hash", expectedUnits: expected ?? units, placed: true, orphans: 0,
                                               skew: 0, units: members, partitions: [])
        section.moves = moving ? [GridStatus.MoveStatus(partition: 0, kind: "primary", from: "customer-1", to: "customer-3", stage: "catching up", ageMs: 1)] : []
        return GridStatus(grid: "g", brokerPid: 1, ready: true, uptimeMs: 0, requests: 0, dropped: 0, refused: 0, promotions: 0, events: "", sections: [section])
    }

    /// Feeds one status a second at `perSecond` requests per second for `seconds`.
    private func run(_ scaler: inout Autoscaler, units: Int, perSecond: UInt64, seconds: Int, clock: inout UInt64, counter: inout UInt64,
                     moving: Bool = false) -> [Autoscaler.Decision] {
        var decisions: [Autoscaler.Decision] = []
        for _ in 0..<seconds {
            clock += 1_000
            counter += perSecond
            decisions += scaler.observe(status(units: units, requests: counter, moving: moving), now: clock)
        }
        return decisions
    }

    func testALoadAboveTheTargetForTheCooldownAddsOneUnitUpToMax() {
        var scaler = Autoscaler(topology: topology)
        XCTAssertTrue(scaler.isActive)
        var clock: UInt64 = 0
        var counter: UInt64 = 0
        // 300 requests/s over 2 units: 150 per unit, above 100.
        XCTAssertEqual(run(&scaler, units: 2, perSecond: 300, seconds: 3, clock: &clock, counter: &counter), [], "not before the cooldown")
        let up = run(&scaler, units: 2, perSecond: 300, seconds: 2, clock: &clock, counter: &counter)
        XCTAssertEqual(up.map(\.units), [3])
        XCTAssertEqual(up.first?.section, "customer")
        XCTAssertTrue(up.first?.reason.contains("above the target of 100") == true, up.first?.reason ?? "")
        XCTAssertEqual(scaler.rate(of: "customer"), 300, accuracy: 1)
        // At the maximum nothing more happens however high the load.
        counter = 0
        XCTAssertEqual(run(&scaler, units: 3, perSecond: 3_000, seconds: 20, clock: &clock, counter: &counter), [])
    }

    func testAnIdleSectionLosesOneUnitPerCooldownDownToMin() {
        let wide = Topology(grid: "g", broker: topology.broker, sections: [SectionConfig(name: "customer", units: 3, backups: 1,
            autoscale: AutoscaleConfig(min: 2, max: 4, targetPerUnit: 100, cooldownMilliseconds: 3_000))])
        var scaler = Autoscaler(topology: wide)
        var clock: UInt64 = 0
        var counter: UInt64 = 0
        // 120 requests/s over 3 units: 60 per unit would be under the target, but two units would carry 60 each: not well below.
        XCTAssertEqual(run(&scaler, units: 3, perSecond: 120, seconds: 10, clock: &clock, counter: &counter), [])
        let down = run(&scaler, units: 3, perSecond: 10, seconds: 6, clock: &clock, counter: &counter)
        XCTAssertEqual(down.map(\.units), [2])
        XCTAssertTrue(down.first?.reason.contains("well below") == true)
        XCTAssertEqual(run(&scaler, units: 2, perSecond: 0, seconds: 20, clock: &clock, counter: &counter), [], "never below min")
    }

    func testNothingChangesWhileMovesAreUnderWayOrWithinTheCooldown() {
        var scaler = Autoscaler(topology: topology)
        var clock: UInt64 = 0
        var counter: UInt64 = 0
        XCTAssertEqual(run(&scaler, units: 2, perSecond: 1_000, seconds: 10, clock: &clock, counter: &counter, moving: true), [])
        XCTAssertEqual(run(&scaler, units: 2, perSecond: 1_000, seconds: 1, clock: &clock, counter: &counter).count, 1,
                       "the load stayed high all along: it acts once the moves are done")
        // Right after a change the load drops: no flapping back within the cooldown.
        XCTAssertEqual(run(&scaler, units: 3, perSecond: 0, seconds: 2, clock: &clock, counter: &counter), [])
    }

    func testARestartedUnitsCounterIsNotReadAsAHugeLoad() {
        var scaler = Autoscaler(topology: topology)
        var clock: UInt64 = 0
        var counter: UInt64 = 1_000_000
        _ = run(&scaler, units: 2, perSecond: 10, seconds: 2, clock: &clock, counter: &counter)
        counter = 0
        XCTAssertEqual(run(&scaler, units: 2, perSecond: 10, seconds: 10, clock: &clock, counter: &counter), [])
        XCTAssertLessThan(scaler.rate(of: "customer"), 100)
    }
}
