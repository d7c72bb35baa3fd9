import GridCore
import Yams

/// Walks a parsed topology, checks every rule and builds the `Topology`.
///
/// The decoder reports each problem and keeps going with whatever it can still
/// read, so a file with five mistakes gets five messages in one run. It only
/// returns a value when the whole tree was read; `Topology.decode` then throws
/// if anything at all was reported. The root level is here; the broker, the
/// database and the sections are in their own files.
struct TopologyDecoder {
    /// Everything wrong found so far (parse problems included).
    var problems: ProblemCollector
    /// Keys standing in for reported duplicate keys; skipped everywhere.
    let placeholders: Set<String>

    /// The keys of the root mapping, in documentation order (`hosts`, `database` and `security` are optional).
    static let rootKeys = ["grid", "broker", "sections", "database", "hosts", "security"]

    /// The whole topology, or nil when some part could not be read.
    mutating func decode(root: Node?) -> Topology? {
        // No document at all, or only `---`: both are an empty file to the user.
        let isEmpty: Bool
        switch root {
        case nil: isEmpty = true
        case let .scalar(scalar)?: isEmpty = ScalarReading.isNull(scalar)
        default: isEmpty = false
        }
        guard let root, !isEmpty else {
            problems.report(
                "the topology is empty: it needs 'grid', 'broker' and 'sections'", line: 1, column: 1)
            return nil
        }
        guard case let .mapping(mapping) = root else {
            problems.report(
                "the root of a topology must be a mapping with 'grid', 'broker' and 'sections', got "
                    + ScalarReading.describe(root),
                at: root.mark)
            return nil
        }
        let fields = FieldMapping(
            mapping, context: "the topology", allowed: Self.rootKeys,
            placeholders: placeholders, problems: &problems)

        let grid = fields.require("grid", problems: &problems).flatMap { decodeGridName($0.value) }
        let hosts = decodeHosts(fields)
        let lan = hosts.map { !$0.isEmpty } ?? true
        let broker = fields.require("broker", problems: &problems).flatMap { field in
            FieldMapping.mapping(field.value, what: "broker", problems: &problems).flatMap { decodeBroker($0, lan: lan) }
        }
        let sections = fields.require("sections", problems: &problems).flatMap { decodeSections($0.value, hosts: hosts) }
        let database = decodeDatabaseField(fields)
        let security = decodeSecurity(fields)

        guard let grid, let hosts, let broker, let sections, let database, let security else { return nil }
        return Topology(grid: grid, broker: broker, sections: sections, database: database, hosts: hosts, security: security)
    }

    /// The grid's name.
    mutating func decodeGridName(_ node: Node) -> String? {
        guard let name = ScalarReading.text(node, label: "grid", expected: "a name such as 'trading'",
                                            problems: &problems) else { return nil }
        guard ScalarReading.isValidName(name) else {
            problems.report("grid name '\(name)' \(ScalarReading.nameRule)", at: node.mark)
            return nil
        }
        return name
    }

    /// The `sections` mapping: at least one section, each with a valid, unreserved name.
    ///
    /// Returns nil when any section is invalid, after checking all of them.
    mutating func decodeSections(_ node: Node, hosts: [HostConfig]?) -> [SectionConfig]? {
        guard let mapping = FieldMapping.mapping(node, what: "sections", problems: &problems) else { return nil }
        var sections: [SectionConfig] = []
        var allValid = true
        var declared = 0
        for (keyNode, value) in mapping {
            guard let name = FieldMapping.plainKey(keyNode) else {
                problems.report("section names must be plain names", at: keyNode.mark)
                allValid = false
                continue
            }
            if placeholders.contains(name) { continue }
            declared += 1
            var nameIsValid = true
            if !ScalarReading.isValidName(name) {
                problems.report("section name '\(name)' \(ScalarReading.nameRule)", at: keyNode.mark)
                nameIsValid = false
            } else if let reason = Self.reservation(of: name) {
                problems.report("section name '\(name)' is reserved: \(reason)", at: keyNode.mark)
                nameIsValid = false
            }
            // Check the body even under a bad name, so its problems show up in the same run.
            let section = FieldMapping.mapping(value, what: "section '\(name)'", problems: &problems)
                .flatMap { decodeSection(named: name, $0, hosts: hosts) }
            if let section, nameIsValid {
                sections.append(section)
            } else {
                allValid = false
            }
        }
        if declared == 0 {
            problems.report("sections must declare at least one section, such as 'customer: { units: 2 }'",
                            at: mapping.mark)
            return nil
        }
        return allValid ? sections : nil
    }

    /// Why the broker keeps `name` for itself, or nil when a section may use it.
    ///
    /// `grid` is the broker's own service (partition table, status) and names
    /// starting with `mmi` are the Majordomo management interface (`mmi.service`).
    static func reservation(of name: String) -> String? {
        if name == "grid" { return "the broker serves 'grid' itself (partition table and status)" }
        if name.hasPrefix("mmi") {
            return "names starting with 'mmi' belong to the broker's Majordomo management interface"
        }
        return nil
    }
}
