import Yams

/// Gathers problems while the decoder walks a topology.
///
/// The decoder never throws on the first mistake: every check reports here and
/// carries on with what it can still read, so one run shows the user every
/// problem in the file. Positions come from Yams' `Mark`, which is already
/// 1-based in lines and columns.
struct ProblemCollector {
    /// The file name every problem carries.
    let file: String
    /// The problems found so far, in the order they were found.
    private(set) var problems: [TopologyProblem] = []

    init(file: String) {
        self.file = file
    }

    /// Records a problem at a node's position (line 0, column 0 when the node has none).
    mutating func report(_ message: String, at mark: Mark?) {
        report(message, line: mark?.line ?? 0, column: mark?.column ?? 0)
    }

    /// Records a problem at an explicit position.
    mutating func report(_ message: String, line: Int, column: Int) {
        problems.append(TopologyProblem(file: file, line: line, column: column, message: message))
    }

    /// Records every problem another collector found (used when a parse is retried).
    mutating func append(contentsOf other: ProblemCollector) {
        problems.append(contentsOf: other.problems)
    }

    /// True when nothing was reported.
    var isEmpty: Bool { problems.isEmpty }

    /// The problems as the error the public API throws, sorted by position.
    var errors: TopologyErrors { TopologyErrors(problems: problems) }
}
