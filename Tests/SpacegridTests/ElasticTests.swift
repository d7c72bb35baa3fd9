import Foundation
import GridClient
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// An elastic grid with the real binary: `spacegrid scale` out and in under a pipelined
/// write load (every acknowledged write checked after each change, no error seen),
/// a kill -9 of a move's source or target, and autoscaling by load.
/// The fault harness's `scale` and `kill-moving` nemeses check the full history.
final class ElasticTests: XCTestCase {
    var grid: TestGrid?

    override func tearDown() {
        grid?.stop()
        grid = nil
    }

    private func startGrid(autoscale: String = "") throws -> TestGrid {
        let grid = try TestGrid(sections: """
              customer:
                units: 2
                partitions: 31
                backups: 1
            \(autoscale)
            """)
        self.grid = grid
        XCTAssertTrue(eventually(timeoutSeconds: 30) { grid.isWhole(backups: 1) }, "backups did not catch up:\n\(grid.log)")
        return grid
    }

    private func scale(_ grid: TestGrid, _ units: Int, wait: Bool = false) throws -> String {
        let result = try Spacegrid.run(["scale", "--broker", grid.endpoint, "customer", String(units)] + (wait ? ["--wait-timeout", "90"] : ["--no-wait"]))
        XCTAssertEqual(result.status, 0, "spacegrid scale: \(result.stdout)\(result.stderr)")
        return result.stdout
    }

    /// The section has `units` units, none draining, no move, primaries even.
    private func settled(_ grid: TestGrid, units: Int) -> Bool {
        guard let status = grid.status(), let section = grid.sections(status).first(where: { $0["name"] as? String == "customer" }) else { return false }
        let members = section["units"] as? [[String: Any]] ?? []
        let moves = section["moves"] as? [[String: Any]] ?? []
        let primaries = members.compactMap { $0["primaries"] as? Int }
        return members.count == units && moves.isEmpty && !members.contains { $0["draining"] as? Bool == true }
            && (primaries.max() ?? 0) - (primaries.min() ?? 0) <= 1 && grid.isWhole(backups: 1)
    }

    /// Keeps the writer going until `condition` holds (or 90 s pass).
    private func write(_ writer: AcknowledgedWriter, until condition: () -> Bool) throws -> Bool {
        let deadline = monotonicMilliseconds() + 90_000
        while monotonicMilliseconds() < deadline {
            try writer.run(milliseconds: 300)
            if condition() { return true }
        }
        return false
    }

    func testScalingOutAndInUnderWritesLosesNothingAndEvensPrimaries() throws {
        let grid = try startGrid()
        let writer = try AcknowledgedWriter(endpoint: grid.endpoint, section: "customer")
        try writer.run(milliseconds: 500)
        let output = try scale(grid, 4)
        XCTAssertTrue(output.contains("scaled to 4 units"), output)
        XCTAssertTrue(try write(writer) { settled(grid, units: 4) }, "not settled at 4 units:\n\(grid.log)")
        try writer.drain()
        XCTAssertEqual(try writer.lostWrites(), [], "acknowledged writes lost while scaling out")
        XCTAssertTrue(grid.log.contains("customer-4 started"), grid.log)

        _ = try scale(grid, 2)
        XCTAssertTrue(try write(writer) { settled(grid, units: 2) }, "not settled at 2 units:\n\(grid.log)")
        try writer.drain()
        XCTAssertEqual(try writer.lostWrites(), [], "acknowledged writes lost while scaling in")
        XCTAssertEqual(writer.errors, [], "a request failed during the moves")
        XCTAssertTrue(eventually(timeoutSeconds: 15) { grid.log.contains("customer-3 stopped") && grid.log.contains("customer-4 stopped") },
                      "the drained units were not stopped:\n\(grid.log)")
        XCTAssertTrue(grid.units().keys.sorted() == ["customer-1", "customer-2"], "\(grid.units())")
        XCTAssertGreaterThan(writer.acknowledged.count, 400, "the writer made progress")
    }

    /// A broker restarted after scaling out expects all the units (the count is kept in the
    /// run folder): it must not start afresh the partitions held only by the units added.
    func testABrokerRestartAfterScalingOutLosesNothing() throws {
        let grid = try startGrid()
        let writer = try AcknowledgedWriter(endpoint: grid.endpoint, section: "customer")
        try writer.run(milliseconds: 300)
        _ = try scale(grid, 4)
        XCTAssertTrue(try write(writer) { settled(grid, units: 4) }, "not settled at 4 units:\n\(grid.log)")
        try writer.drain()
        guard let pid = grid.brokerPID() else { return XCTFail("no broker pid") }
        kill(pid, SIGKILL)
        XCTAssertTrue(try write(writer) { grid.brokerPID().map { $0 != pid } == true && settled(grid, units: 4) },
                      "not settled after the broker restart:\n\(grid.log)")
        try writer.drain()
        XCTAssertEqual(try writer.lostWrites(), [], "acknowledged writes lost when the broker restarted after scaling out")
        let brokerLog = (try? String(contentsOf: grid.runFolder.appendingPathComponent("logs/broker.log"), encoding: .utf8)) ?? ""
        XCTAssertFalse(brokerLog.contains("partition lost"), "a partition was started afresh")
    }

    func testAKillOfAMovesSourceOrTargetLosesNothing() throws {
        let grid = try startGrid()
        let writer = try AcknowledgedWriter(endpoint: grid.endpoint, section: "customer")
        try writer.run(milliseconds: 300)
        for side in ["from", "to"] {
            _ = try scale(grid, 4)
            var victim: (name: String, pid: Int32)?
            let deadline = monotonicMilliseconds() + 30_000
            while victim == nil && monotonicMilliseconds() < deadline {
                try writer.run(milliseconds: 20)
                guard let status = grid.status(), let section = grid.sections(status).first(where: { $0["name"] as? String == "customer" }),
                      let move = (section["moves"] as? [[String: Any]])?.first, let name = move[side] as? String,
                      let pid = grid.units()[name]?.pid, pid > 0 else { continue }
                victim = (name, pid)
            }
            guard let victim else { return XCTFail("no move seen while scaling out:\n\(grid.log)") }
            kill(victim.pid, SIGKILL)
            XCTAssertTrue(try write(writer) { settled(grid, units: 4) }, "not settled after killing the move's \(side) \(victim.name):\n\(grid.log)")
            try writer.drain()
            XCTAssertEqual(try writer.lostWrites(), [], "acknowledged writes lost after a kill -9 of the move's \(side == "from" ? "source" : "target")")
            _ = try scale(grid, 2)
            XCTAssertTrue(try write(writer) { settled(grid, units: 2) }, "not settled back at 2 units:\n\(grid.log)")
            try writer.drain()
            XCTAssertEqual(try writer.lostWrites(), [])
        }
    }

    func testALoadRaisesTheUnitCountAndAnIdleGridLowersItBack() throws {
        let grid = try startGrid(autoscale: """
                autoscale:
                  min: 2
                  max: 3
                  target: 50
                  cooldown: 2s
            """)
        let writer = try AcknowledgedWriter(endpoint: grid.endpoint, section: "customer", depth: 8)
        // Well above 50 requests/s per unit (a debug build on a busy machine does thousands).
        XCTAssertTrue(try write(writer) { settled(grid, units: 3) }, "the load did not add a unit:\n\(grid.log)")
        XCTAssertTrue(grid.log.contains("autoscale:") && grid.log.contains("adding a unit (max 3)"), grid.log)
        try writer.drain()
        XCTAssertEqual(try writer.lostWrites(), [])
        // Idle: back to the minimum, never below it.
        XCTAssertTrue(eventually(timeoutSeconds: 60) { self.settled(grid, units: 2) }, "an idle grid kept its units:\n\(grid.log)")
        XCTAssertTrue(grid.log.contains("removing a unit (min 2)"), grid.log)
        Thread.sleep(forTimeInterval: 5)
        XCTAssertEqual(grid.units().count, 2, "never below min")
        XCTAssertEqual(try writer.lostWrites(), [])
    }
}
