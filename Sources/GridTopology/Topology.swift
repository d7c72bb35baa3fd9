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
    /// The machines the grid runs on (empty: one machine, loopback).
    public var hosts: [HostConfig]
    /// How connections are secured (nil: neither encrypted nor authenticated).
    public var security: SecurityConfig?

    public init(grid: String, broker: BrokerConfig, sections: [SectionConfig], database: DatabaseConfig? = nil,
                hosts: [HostConfig] = [], security: SecurityConfig? = nil) {
        self.grid = grid
        self.broker = broker
        self.sections = sections
        self.database = database
        self.hosts = hosts
        self.security = security
    }

    /// The host `unit` (`customer-3`) runs on: its section's `hosts`, round robin by the
    /// unit's number, so units added by scaling are placed by the same rule. Nil without hosts.
    public func host(ofUnit unit: String) -> HostConfig? {
        guard let dash = unit.lastIndex(of: "-"), let number = Int(unit[unit.index(after: dash)...]), number >= 1,
              let section = section(named: String(unit[..<dash])), !section.hosts.isEmpty else { return nil }
        let name = section.hosts[(number - 1) % section.hosts.count]
        return hosts.first { $0.name == name }
    }

    /// The host whose address the broker's unit endpoint names (where `up --broker` belongs).
    public var brokerHost: HostConfig? {
        hosts.first { host in [broker.clients, broker.units, broker.events].contains { $0.hasPrefix("tcp://\(host.address):") } }
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
        var topology = try decode(yaml: text, file: path)
        // The key folder is named relative to the topology file, as a user reads it.
        if let keys = topology.security?.keys, !keys.hasPrefix("/") {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
            topology.security?.keys = folder.appendingPathComponent(keys).standardizedFileURL.path
        }
        return topology
    }
}
