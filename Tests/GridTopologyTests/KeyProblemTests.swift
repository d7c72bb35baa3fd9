import GridTopology
import XCTest

/// Problems with the shape of a topology: unknown, missing and duplicate keys,
/// roots and levels that are not mappings, names.
final class KeyProblemTests: XCTestCase {
    func testUnknownSectionKeySuggestsTheClosest() {
        assertProblem(
            ProblemAssertions.section("units: 2", "partitons: 271"),
            at: 9, 5,
            "unknown key 'partitons' in section 'customer'",
            "allowed keys: units, partitions, partitioning, ranges, backups, mode, replication_interval",
            "did you mean 'partitions'?")
    }

    func testUnknownKeysAtEveryLevel() {
        let yaml = """
            grid: trading
            brokr:
              clients: tcp://127.0.0.1:5570
            broker:
              clients: tcp://127.0.0.1:5570
              units: tcp://127.0.0.1:5571
              events: tcp://127.0.0.1:5572
              hartbeat: 100ms
            sections:
              customer:
                units: 2
                colour: blue
            """
        let found = problems(in: yaml)
        XCTAssertEqual(found.count, 3, found.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(found.map(\.line), [2, 8, 12])
        XCTAssertEqual(found.map(\.column), [1, 3, 5])
        XCTAssertTrue(found[0].message.contains("unknown key 'brokr' in the topology"))
        XCTAssertTrue(found[0].message.contains("allowed keys: grid, broker, sections"))
        XCTAssertTrue(found[0].message.hasSuffix("did you mean 'broker'?"))
        XCTAssertTrue(found[1].message.contains("did you mean 'heartbeat'?"))
        XCTAssertFalse(found[2].message.contains("did you mean"), "nothing is close to 'colour'")
    }

    func testMissingUnitsIsReportedAtTheSectionMapping() {
        assertProblem(
            ProblemAssertions.section("partitions: 16", "backups: 0"),
            at: 8, 5, "section 'customer' is missing the required key 'units'")
    }

    func testMissingRootAndBrokerKeys() {
        let yaml = """
            # no grid name
            broker:
              clients: tcp://127.0.0.1:5570
            """
        let found = problems(in: yaml)
        XCTAssertEqual(found.map(\.description), [
            "test.yaml:2:1: the topology is missing the required key 'grid'",
            "test.yaml:2:1: the topology is missing the required key 'sections'",
            "test.yaml:3:3: broker is missing the required key 'units'",
            "test.yaml:3:3: broker is missing the required key 'events'",
        ])
    }

    func testDuplicateKeyIsReportedAtTheRepeatAndOtherProblemsStillShow() {
        let yaml = ProblemAssertions.section("units: 2", "backups: 1", "units: 3", "mode: fast")
        let found = problems(in: yaml)
        XCTAssertEqual(found.count, 2, found.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(found.first?.line, 10)
        XCTAssertEqual(found.first?.column, 5)
        XCTAssertEqual(found.first?.message.contains("duplicate key 'units'"), true)
        XCTAssertEqual(found.first?.message.contains("already given at line 8"), true)
        XCTAssertEqual(found.last?.line, 11)
        XCTAssertEqual(found.last?.column, 11)
        XCTAssertEqual(found.last?.message.contains("mode must be 'sync' or 'async'"), true)
    }

    func testDuplicateSectionsAndDuplicateNestedKeysAreAllReported() {
        let yaml = """
            grid: trading
            broker:
              clients: tcp://127.0.0.1:5570
              units: tcp://127.0.0.1:5571
              events: tcp://127.0.0.1:5572
              events: tcp://127.0.0.1:5573
            sections:
              customer:
                units: 2
              customer:
                units: 4
                units: 5
            """
        let found = problems(in: yaml)
        XCTAssertEqual(found.map(\.line), [6, 10, 12], found.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(found.map(\.column), [3, 3, 5])
        XCTAssertTrue(found.allSatisfy { $0.message.contains("duplicate key") })
    }

    func testDuplicateKeyInAFlowMappingStillPointsAtTheMapping() {
        assertProblem(
            ProblemAssertions.section("units: 2", "extra: {a: 1, a: 2}"),
            at: 9, 13, "duplicate key 'a'")
    }

    func testEmptyDocument() {
        assertProblem("", at: 1, 1, "the topology is empty")
        assertProblem("# only a comment\n\n", at: 1, 1, "the topology is empty")
        assertProblem("---\n", at: 1, 1, "the topology is empty")
        assertProblem("~\n", at: 1, 1, "the topology is empty")
    }

    func testRootMustBeAMapping() {
        assertProblem("- grid\n- broker\n", at: 1, 1, "root of a topology must be a mapping", "got a list")
        assertProblem("\n\ntrading\n", at: 3, 1, "root of a topology must be a mapping", "got 'trading'")

    }

    func testLevelsMustBeMappings() {
        let yaml = """
            grid: trading
            broker: tcp://127.0.0.1:5570
            sections:
              customer: 2
            """
        let found = problems(in: yaml)
        XCTAssertEqual(found.map(\.description), [
            "test.yaml:2:9: broker must be a mapping of keys to values, got 'tcp://127.0.0.1:5570'",
            "test.yaml:4:13: section 'customer' must be a mapping of keys to values, got '2'",
        ])
    }

    func testAtLeastOneSection() {
        let yaml = ProblemAssertions.head.replacingOccurrences(of: "sections:\n  customer:\n", with: "sections: {}\n")
        assertProblem(yaml, at: 6, 11, "sections must declare at least one section")
    }

    func testReservedSectionNames() {
        let yaml = """
            grid: trading
            broker:
              clients: tcp://127.0.0.1:5570
              units: tcp://127.0.0.1:5571
              events: tcp://127.0.0.1:5572
            sections:
              grid:
                units: 1
              mmi-stats:
                units: 1
            """
        let found = problems(in: yaml)
        XCTAssertEqual(found.count, 2, found.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(found.map(\.line), [7, 9])
        XCTAssertEqual(found.map(\.column), [3, 3])
        XCTAssertTrue(found[0].message.contains("section name 'grid' is reserved"))
        XCTAssertTrue(found[1].message.contains("section name 'mmi-stats' is reserved"))
    }

    func testInvalidNames() {
        let yaml = """
            grid: Trading Grid
            broker:
              clients: tcp://127.0.0.1:5570
              units: tcp://127.0.0.1:5571
              events: tcp://127.0.0.1:5572
            sections:
              Customer:
                units: 1
              1st:
                units: 1
              this-name-is-far-too-long-for-a-section:
                units: 1
            """
        let found = problems(in: yaml)
        XCTAssertEqual(found.map(\.line), [1, 7, 9, 11], found.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(found.map(\.column), [7, 3, 3, 3])
        XCTAssertTrue(found[0].message.contains("grid name 'Trading Grid' must start with a lowercase letter"))
        XCTAssertTrue(found[1].message.contains("section name 'Customer'"))
    }

    func testNonScalarKeyIsReported() {
        assertProblem(ProblemAssertions.section("units: 2", "? [a, b]", ": 3"), at: 9, 7,
                      "keys in section 'customer' must be plain names")
    }
}
