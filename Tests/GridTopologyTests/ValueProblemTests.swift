import GridTopology
import XCTest

/// Problems with values: types, ranges, durations, endpoints, choices, and
/// the backups-below-units rule.
final class ValueProblemTests: XCTestCase {
    func testWrongTypeForUnits() {
        assertProblem(ProblemAssertions.section("units: two"), at: 8, 12,
                      "section 'customer': units must be an integer", "got 'two'")
    }

    func testOtherWrongTypes() {
        assertProblem(ProblemAssertions.section("units: 2.5"), at: 8, 12, "units must be an integer")
        assertProblem(ProblemAssertions.section("units: \"2\""), at: 8, 12, "units must be an integer",
                      "quoted string")
        assertProblem(ProblemAssertions.section("units: [2]"), at: 8, 12, "units must be an integer", "a list")
        assertProblem(ProblemAssertions.section("units:"), at: 8, 11, "units must be an integer", "got nothing")
        assertProblem(ProblemAssertions.section("units: 2", "partitions: 0x10"), at: 9, 17,
                      "partitions must be an integer")
    }

    func testIntegersOutOfRange() {
        assertProblem(ProblemAssertions.section("units: 65"), at: 8, 12, "units must be between 1 and 64, got 65")
        assertProblem(ProblemAssertions.section("units: 0"), at: 8, 12, "between 1 and 64")
        assertProblem(ProblemAssertions.section("units: 2", "partitions: 65537"), at: 9, 17,
                      "partitions must be between 1 and 65536")
        assertProblem(ProblemAssertions.section("units: 2", "backups: 4"), at: 9, 14,
                      "backups must be between 0 and 3")
        assertProblem(ProblemAssertions.section("units: 99999999999999999999"), at: 8, 12, "units must be")
    }

    func testBackupsMustBeFewerThanUnits() {
        assertProblem(ProblemAssertions.section("units: 2", "backups: 2"), at: 9, 14,
                      "backups (2) must be less than units (2)", "never sits on its primary's unit")
        assertProblem(ProblemAssertions.section("units: 1", "backups: 1"), at: 9, 14,
                      "backups (1) must be less than units (1)")
    }

    func testBadDuration() {
        assertProblem(ProblemAssertions.section("units: 2", "replication_interval: 5m"), at: 9, 27,
                      "replication_interval must be a duration such as 50ms or 2s", "got '5m'")
        assertProblem(ProblemAssertions.section("units: 2", "replication_interval: fast"), at: 9, 27,
                      "must be a duration")
        assertProblem(ProblemAssertions.section("units: 2", "replication_interval: -5ms"), at: 9, 27,
                      "must be a duration")
    }

    func testBareIntegerDurationHasAHint() {
        assertProblem(ProblemAssertions.section("units: 2", "replication_interval: 50"), at: 9, 27,
                      "replication_interval must be a duration with a unit", "write 50ms")
    }

    func testDurationOutOfRange() {
        assertProblem(ProblemAssertions.section("units: 2", "replication_interval: 61s"), at: 9, 27,
                      "replication_interval must be between 1ms and 60s, got 61s")
        assertProblem(ProblemAssertions.section("units: 2", "replication_interval: 0ms"), at: 9, 27,
                      "between 1ms and 60s")
    }

    func testBrokerValues() {
        let yaml = """
            grid: trading
            broker:
              clients: http://127.0.0.1:5570
              units: tcp://127.0.0.1
              events: ipc://
              heartbeat: 100
              liveness: 1
              max_message_bytes: 512
              loss_grace: 601s
            sections:
              customer:
                units: 2
            """
        let found = problems(in: yaml)
        XCTAssertEqual(found.map(\.line), [3, 4, 5, 6, 7, 8, 9], found.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(found.map(\.column), [12, 10, 11, 14, 13, 22, 15])
        XCTAssertTrue(found[0].message.contains("broker: clients must start with tcp://, ipc:// or inproc://"))
        XCTAssertTrue(found[1].message.contains("must name a host and a port"))
        XCTAssertTrue(found[2].message.contains("has no address after ipc://"))
        XCTAssertTrue(found[3].message.contains("write 100ms"))
        XCTAssertTrue(found[4].message.contains("liveness must be between 2 and 20"))
        XCTAssertTrue(found[5].message.contains("max_message_bytes must be between 1024 and 268435456"))
        XCTAssertTrue(found[6].message.contains("broker: loss_grace must be between 100ms and 600s, got 601s"), found[6].message)
    }

    /// How long an orphaned partition waits for a replica holding what it acknowledged.
    func testLossGraceDefaultsToThreeSecondsAndIsRead() throws {
        let plain = try Topology.decode(yaml: ProblemAssertions.head + "    units: 2\n")
        XCTAssertEqual(plain.broker.lossGraceMilliseconds, 3_000)
        let longer = ProblemAssertions.head.replacingOccurrences(of: "broker:\n", with: "broker:\n  loss_grace: 30s\n") + "    units: 2\n"
        XCTAssertEqual(try Topology.decode(yaml: longer).broker.lossGraceMilliseconds, 30_000)
        assertProblem(ProblemAssertions.head.replacingOccurrences(of: "broker:\n", with: "broker:\n  loss_grace: 50ms\n") + "    units: 2\n",
                      at: 3, 15, "loss_grace must be between 100ms and 600s, got 50ms")
    }

    func testBadEndpointScheme() {
        let yaml = ProblemAssertions.head.replacingOccurrences(of: "tcp://127.0.0.1:5571", with: "udp://127.0.0.1:5571")
            + "    units: 2\n"
        assertProblem(yaml, at: 4, 10, "broker: units must start with tcp://, ipc:// or inproc://",
                      "got 'udp://127.0.0.1:5571'")
    }

    func testDuplicateEndpoints() {
        let yaml = ProblemAssertions.head.replacingOccurrences(of: "tcp://127.0.0.1:5572", with: "tcp://127.0.0.1:5570")
            + "    units: 2\n"
        assertProblem(yaml, at: 5, 11, "events endpoint 'tcp://127.0.0.1:5570' is the same as clients",
                      "must differ")
    }

    func testChoicesSuggestTheClosest() {
        assertProblem(ProblemAssertions.section("units: 2", "mode: snyc"), at: 9, 11,
                      "mode must be 'sync' or 'async', got 'snyc'", "did you mean 'sync'?")
        assertProblem(ProblemAssertions.section("units: 2", "partitioning: hashed"), at: 9, 19,
                      "partitioning must be 'hash' or 'range'", "did you mean 'hash'?")
    }
}
