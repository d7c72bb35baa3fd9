import Foundation
import GridCore

/// A whole grid as a topology file declares it: its name, where the broker
/// listens, its sections, and (optionally) the database its changes are
/// written behind to.
///
/// The topology is the one source of truth that every process reads: the
/// broker binds its endpoints and builds the partition table from the
/// sections, units find the broker and learn their partitions' strategy, the
/// deployment manager knows which units to start. A `Topology` value is always
/// valid: it only comes out of `decode`/`load` when the file had no problem
/// (or from code that builds it directly, as tests do).
public struct Topology: Sendable, Equatable {
    /// The grid's name (`trading`).
    public var grid: String
    /// The messaging grid's endpoints and failure detection settings.
    public var broker: BrokerConfig
    /// The sections, in file order (placement and listings follow this order).
    public var sections: [SectionConfig]
    /// The write-behind target; nil when the topology has no `database` section
    /// (the grid then keeps its data in memory only).
    public var database: DatabaseConfig?

    public init(grid: String, broker: BrokerConfig, sections: [SectionConfig], database: DatabaseConfig? = nil) {
        self.grid = grid
        self.broker = broker
        self.sections = sections
        self.database = database
    }

    /// The section called `name`, if the topology declares it.
    public func section(named name: String) -> SectionConfig? {
        sections.first { $0.name == name }
    }

    /// Every unit of every section, in file order: `customer-1`, `customer-2`, `product-1`, ...
    public var unitNames: [String] {
        sections.flatMap(\.unitNames)
    }

    /// A copy with other broker endpoints.
    ///
    /// Tests and embedded grids run a shipped topology on free ports or over
    /// `inproc://` without editing the file; everything else stays the same.
    public func rewriting(clients: String, units: String, events: String) -> Topology {
        var copy = self
        copy.broker.clients = clients
        copy.broker.units = units
        copy.broker.events = events
        return copy
    }

    /// Decodes and validates; throws TopologyErrors listing every problem.
    ///
    /// - Parameters:
    ///   - yaml: the topology text.
    ///   - file: the name problems carry (usually the path the text came from).
    public static func decode(yaml: String, file: String = "<topology>") throws(TopologyErrors) -> Topology {
        var problems = ProblemCollector(file: file)
        let document = YAMLDocument.parse(yaml, into: &problems)
        let parseFailed = document.root == nil && !problems.isEmpty
        var decoder = TopologyDecoder(problems: problems, placeholders: document.placeholderKeys)
        let topology = parseFailed ? nil : decoder.decode(root: document.root)
        guard let topology, decoder.problems.isEmpty else {
            throw decoder.problems.errors
        }
        return topology
    }

    /// Reads the file at `path` (throws TopologyErrors with a single problem at line 0 when unreadable).
    ///
    /// Problems name the file as `path` was written, so they read like compiler
    /// diagnostics relative to where the user ran the command.
    public static func load(path: String) throws(TopologyErrors) -> Topology {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TopologyErrors(file: path, message: "cannot read the topology: no such file")
        }
        guard !isDirectory.boolValue else {
            throw TopologyErrors(file: path, message: "cannot read the topology: it is a directory, not a file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TopologyErrors(file: path, message: "cannot read the topology: permission denied or I/O error")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TopologyErrors(file: path, message: "cannot read the topology: the file is not UTF-8 text")
        }
        return try decode(yaml: text, file: path)
    }
}
