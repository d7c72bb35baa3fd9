import Yams

/// One thing wrong with a topology file, pinned to where it is.
///
/// A topology is written by hand and read by every process of the grid, so a
/// mistake in it must be fixed before anything starts. Each problem names the
/// file, the 1-based line and column of the offending YAML node (or of the
/// mapping that lacks a required key) and says what to do, in the
/// `file:line:column: message` form that editors and terminals already turn
/// into links.
public struct TopologyProblem: Sendable, Equatable, CustomStringConvertible {
    /// The file the topology came from, as the caller named it (`<topology>` for text).
    public var file: String
    /// 1-based line of the offending node; 0 when the problem is with the file as a whole.
    public var line: Int
    /// 1-based column (in Unicode scalars, as libyaml counts); 0 with line 0.
    public var column: Int
    /// What is wrong and, where it helps, how to fix it.
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    /// `trading.yaml:12:5: message`.
    public var description: String {
        line > 0 ? "\(file):\(line):\(column): \(message)" : "\(file): \(message)"
    }
}

/// Every problem found in a topology, thrown at once.
///
/// Validation does not stop at the first mistake: fixing a file one error per
/// run is slow, so the decoder keeps going and reports all it can find, sorted
/// by position so they read top to bottom like the file.
public struct TopologyErrors: Error, Sendable, Equatable, CustomStringConvertible {
    /// The problems, sorted by line, then column (ties keep the order found).
    public var problems: [TopologyProblem]

    /// Builds the error, sorting `problems` by position.
    public init(problems: [TopologyProblem]) {
        // A stable sort: two problems on the same node keep the order the
        // validator found them in, which follows the order of the checks.
        self.problems = problems.enumerated().sorted { lhs, rhs in
            if lhs.element.line != rhs.element.line { return lhs.element.line < rhs.element.line }
            if lhs.element.column != rhs.element.column { return lhs.element.column < rhs.element.column }
            return lhs.offset < rhs.offset
        }.map(\.element)
    }

    /// A single problem about the whole file (unreadable, for example), at line 0.
    public init(file: String, message: String) {
        self.init(problems: [TopologyProblem(file: file, line: 0, column: 0, message: message)])
    }

    /// One problem per line.
    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}

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

    /// True when nothing was reported.
    var isEmpty: Bool { problems.isEmpty }

    /// The problems as the error the public API throws, sorted by position.
    var errors: TopologyErrors { TopologyErrors(problems: problems) }
}
