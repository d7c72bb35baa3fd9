import GridTopology
import XCTest

/// The optional `autoscale:` block of a section: read with its defaults, and every
/// problem reported at its line.
final class AutoscaleConfigTests: XCTestCase {
    private func section(_ lines: String...) -> String {
        ProblemAssertions.head + lines.map { "    " + $0 + "\n" }.joined()
    }

    func testTheBlockIsReadWithItsDefaultCooldown() throws {
        let topology = try Topology.decode(yaml: section("units: 2", "autoscale:", "  min: 2", "  max: 4", "  target: 5000"))
        XCTAssertEqual(topology.sections[0].autoscale, AutoscaleConfig(min: 2, max: 4, targetPerUnit: 5000, cooldownMilliseconds: 30_000))
        let timed = try Topology.decode(yaml: section("units: 3", "autoscale: {min: 2, max: 6, target: 10, cooldown: 5s}"))
        XCTAssertEqual(timed.sections[0].autoscale?.cooldownMilliseconds, 5_000)
        XCTAssertNil(try Topology.decode(yaml: section("units: 2")).sections[0].autoscale)
    }

    func testProblemsAreReportedAtTheirLine() {
        assertProblem(section("units: 2", "autoscale:", "  min: 2", "  max: 4"), at: 10, 7, "autoscale", "target")
        assertProblem(section("units: 2", "autoscale:", "  min: 2", "  max: 4", "  target: 0"), at: 12, 15,
                      "autoscale: target must be between 1 and")
        assertProblem(section("units: 2", "autoscale:", "  min: 3", "  max: 2", "  target: 10"), at: 10, 12,
                      "min (3) must not be above max (2)")
        assertProblem(section("units: 5", "autoscale:", "  min: 2", "  max: 4", "  target: 10"), at: 10, 7,
                      "starts with 5 units, outside min 2 ... max 4")
        assertProblem(section("units: 2", "backups: 1", "autoscale:", "  min: 1", "  max: 4", "  target: 10"), at: 11, 12,
                      "min (1) must be more than backups (1)")
        assertProblem(section("units: 2", "autoscale:", "  min: 2", "  max: 4", "  target: 10", "  cooldown: 10"), at: 13, 17,
                      "cooldown must be a duration")
        assertProblem(section("units: 2", "autoscale:", "  min: 2", "  max: 4", "  target: 10", "  maxx: 3"), at: 13, 7,
                      "maxx")
        assertProblem(section("units: 2", "autoscale: 3"), at: 9, 16, "autoscale")
    }
}
