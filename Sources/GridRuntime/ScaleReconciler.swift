import GridTopology
import GridWire

/// What `spacegrid up` does about a section's size, decided from the broker's status:
/// start the units `grid scale` asked for, stop the surplus ones once they handed off
/// everything they held (the broker drains them), and tell a restarted broker (which
/// knows only the topology's counts) the count it had been given.
///
/// Pure: `up` feeds it each status it reads and carries out the actions.
public struct ScaleReconciler: Sendable {
    public enum Action: Sendable, Equatable {
        case start(section: String, name: String)
        /// The unit holds nothing any more (or never joined): stop it for good.
        case retire(section: String, name: String)
        /// The broker forgot the count (it restarted): send `grid scale` again.
        case tellBroker(section: String, units: Int)
    }

    /// The count each section should have.
    public private(set) var desired: [String: Int]

    public init(topology: Topology) {
        desired = Dictionary(uniqueKeysWithValues: topology.sections.map { ($0.name, $0.units) })
    }

    /// - Parameters:
    ///   - status: the broker's latest status.
    ///   - running: the units `up` runs, per section (retiring ones excluded).
    public mutating func reconcile(_ status: GridStatus, running: [String: [String]]) -> [Action] {
        var actions: [Action] = []
        for section in status.sections {
            guard var count = desired[section.name] else { continue }
            if section.scaled == true {
                count = section.expectedUnits
            } else if count != section.expectedUnits {
                actions.append(.tellBroker(section: section.name, units: count))
                desired[section.name] = count
                continue
            }
            desired[section.name] = count
            let wanted = (1...max(1, count)).map { "\(section.name)-\($0)" }
            let mine = running[section.name] ?? []
            for name in wanted where !mine.contains(name) {
                actions.append(.start(section: section.name, name: name))
            }
            for name in mine where !wanted.contains(name) {
                let unit = section.units.first { $0.name == name }
                // Stopped once it holds nothing: drained by the broker, or never joined.
                if unit.map({ $0.draining == true && $0.primaries == 0 && $0.backups == 0 }) ?? true {
                    actions.append(.retire(section: section.name, name: name))
                }
            }
        }
        return actions
    }
}
