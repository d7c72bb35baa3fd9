import GridTopology
import XCTest

/// How problems are reported as a whole: YAML syntax errors, many problems in
/// one run, order, and the printed form.
final class ReportingTests: XCTestCase {
    func testYAMLSyntaxErrorHasItsLine() {
        assertProblem(ProblemAssertions.section("units: 2", "mode: sync: async"), at: 9, 15,
                      "YAML syntax error", "mapping values are not allowed")
    }

    func testUnclosedFlowSequenceIsASyntaxError() {
        let found = problems(in: ProblemAssertions.section("units: 2", "ranges: [0, 10", "mode: sync"))
        XCTAssertEqual(found.count, 1)
        XCTAssertEqual(found.first?.line, 10, found.first?.description ?? "")
        XCTAssertTrue(found.first?.message.contains("YAML syntax error") == true)
        XCTAssertTrue(found.first?.message.contains("flow sequence") == true)
        XCTAssertTrue(found.first?.message.contains("line 9, column 13") == true)
    }

    func testTabIndentationIsASyntaxError() {
        let yaml = "grid: trading\nbroker:\n\tclients: tcp://127.0.0.1:5570\n"
        let found = problems(in: yaml)
        XCTAssertEqual(found.count, 1)
        XCTAssertEqual(found.first?.line, 3, found.first?.description ?? "")
        XCTAssertTrue(found.first?.message.contains("YAML syntax error") == true)
    }

    func testControlCharacterIsReportedWhereItIs() {
        assertProblem("grid: trading\nbroker:\n  clients: \"tcp://x\u{01}\"\n", at: 3, 20,
                      "control characters are not allowed")
    }

    func testASecondDocumentIsAnError() {
        assertProblem("grid: a\n---\ngrid: b\n", at: 2, 1,
                      "YAML syntax error: expected a single document in the stream but found another document")
    }

    func testSeveralProblemsAtOnce() {
        let yaml = """
            grid: trading
            broker:
              clients: tcp://127.0.0.1:5570
              units: tcp://127.0.0.1:5570
              events: tcp://127.0.0.1:5572
              heartbeat: 100
            sections:
              customer:
                units: two
                partitons: 271
              product:
                units: 2
                backups: 2
              order:
                partitioning: range
            """
        let found = problems(in: yaml)
        XCTAssertEqual(found.count, 7, found.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(found.map(\.line), [4, 6, 9, 10, 13, 15, 15])
        XCTAssertEqual(found.map(\.column), [10, 14, 12, 5, 14, 5, 5])
        XCTAssertTrue(found[5].message.contains("missing the required key 'units'"))
        XCTAssertTrue(found[6].message.contains("missing the required key 'ranges'"))
    }

    func testProblemsAreSortedByPosition() {
        let unsorted = TopologyErrors(problems: [
            TopologyProblem(file: "f", line: 9, column: 1, message: "c"),
            TopologyProblem(file: "f", line: 2, column: 7, message: "b"),
            TopologyProblem(file: "f", line: 2, column: 3, message: "a"),
            TopologyProblem(file: "f", line: 9, column: 1, message: "d"),
        ])
        XCTAssertEqual(unsorted.problems.map(\.message), ["a", "b", "c", "d"])
    }

    func testPrintedForm() {
        let problem = TopologyProblem(file: "trading.yaml", line: 12, column: 5, message: "units must be an integer")
        XCTAssertEqual(problem.description, "trading.yaml:12:5: units must be an integer")
        let errors = TopologyErrors(problems: [
            problem, TopologyProblem(file: "trading.yaml", line: 14, column: 3, message: "second"),
        ])
        XCTAssertEqual(errors.description, "trading.yaml:12:5: units must be an integer\ntrading.yaml:14:3: second")
    }

    func testDefaultFileName() {
        do {
            _ = try Topology.decode(yaml: "grid: x")
            XCTFail("expected problems")
        } catch {
            XCTAssertTrue(error.problems.allSatisfy { $0.file == "<topology>" })
            XCTAssertTrue(error.description.hasPrefix("<topology>:1:1: "), error.description)
        }
    }
}
