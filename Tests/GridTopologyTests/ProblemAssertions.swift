import GridTopology
import XCTest

/// Helpers for asserting the problems a topology reports.
///
/// Every error test states the exact line and column, because a problem that
/// points at the wrong place sends the user to the wrong line; and, unless it
/// says otherwise, that the problem is the only one, so one mistake never
/// produces a cascade of follow-up noise.
enum ProblemAssertions {
    /// The valid head every section test builds on; the section body starts at line 8, column 5.
    static let head = """
        grid: trading
        broker:
          clients: tcp://127.0.0.1:5570
          units: tcp://127.0.0.1:5571
          events: tcp://127.0.0.1:5572
        sections:
          customer:

        """

    /// A topology whose `customer` section has `lines` as its body (each indented 4 spaces, from line 8).
    static func section(_ lines: String...) -> String {
        head + lines.map { "    " + $0 }.joined(separator: "\n") + "\n"
    }
}

extension XCTestCase {
    /// The problems decoding `yaml` reports; fails when it decodes.
    func problems(
        in yaml: String, file: StaticString = #filePath, line: UInt = #line
    ) -> [TopologyProblem] {
        do {
            let topology = try Topology.decode(yaml: yaml, file: "test.yaml")
            XCTFail("expected problems, decoded \(topology)", file: file, line: line)
            return []
        } catch {
            XCTAssertEqual(error.problems.map(\.file), Array(repeating: "test.yaml", count: error.problems.count),
                           file: file, line: line)
            return error.problems
        }
    }

    /// Asserts decoding `yaml` reports a problem at `problemLine`:`problemColumn`
    /// whose message holds every fragment, and (when `only`) nothing else.
    func assertProblem(
        _ yaml: String,
        at problemLine: Int, _ problemColumn: Int,
        _ fragments: String...,
        only: Bool = true,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let found = problems(in: yaml, file: file, line: line)
        let listing = found.map(\.description).joined(separator: "\n")
        if only {
            XCTAssertEqual(found.count, 1, "expected exactly one problem, got:\n\(listing)", file: file, line: line)
        }
        let matching = found.filter { problem in
            problem.line == problemLine && problem.column == problemColumn
                && fragments.allSatisfy { problem.message.contains($0) }
        }
        XCTAssertFalse(
            matching.isEmpty,
            "no problem at \(problemLine):\(problemColumn) containing \(fragments); got:\n\(listing)",
            file: file, line: line)
    }
}
