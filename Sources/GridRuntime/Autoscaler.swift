import GridTopology
import GridWire

/// Scaling by load for the sections with an `autoscale:` block, decided from the
/// broker's status once a second (`spacegrid up` carries the decisions out with
/// `grid scale`).
///
/// The load of a section is the requests the broker routed to its units per second
/// (from the growth of each unit's counter; direct-path requests bypass the broker and
/// are not counted). It adds a unit after the load per unit stayed above the target
/// for the whole cooldown, and removes one after even one unit fewer would have stayed
/// under half the target for the cooldown; never below `min` or above `max`, and never
/// twice within a cooldown. Pure: time and statuses come in, decisions go out.
public struct Autoscaler: Sendable {
    public struct Decision: Sendable, Equatable {
        public var section: String
        public var units: Int
        /// Why, for the log and the `grid.section.scaled` event.
        public var reason: String
    }

    struct Watch: Sendable {
        var config: AutoscaleConfig
        var counters: [String: UInt64] = [:]
        var lastSample: UInt64?
        var highSince: UInt64?
        var lowSince: UInt64?
        var lastChange: UInt64?
        var rate: Double = 0
    }

    var watches: [String: Watch]

    public init(topology: Topology) {
        var watches: [String: Watch] = [:]
        for section in topology.sections {
            if let config = section.autoscale { watches[section.name] = Watch(config: config) }
        }
        self.watches = watches
    }

    /// Whether any section scales by load.
    public var isActive: Bool { !watches.isEmpty }

    /// The requests per second last measured for `section`.
    public func rate(of section: String) -> Double { watches[section]?.rate ?? 0 }

    /// Reads one status taken at `now` (milliseconds); returns the changes to make.
    public mutating func observe(_ status: GridStatus, now: UInt64) -> [Decision] {
        var decisions: [Decision] = []
        for section in status.sections {
            guard var watch = watches[section.name] else { continue }
            defer { watches[section.name] = watch }
            var routed: UInt64 = 0
            var counters: [String: UInt64] = [:]
            for unit in section.units {
                counters[unit.name] = unit.requests
                // A unit new or restarted since the last sample (its counter started again) counts from zero.
                let before = watch.counters[unit.name].flatMap { $0 <= unit.requests ? $0 : nil } ?? 0
                routed += unit.requests - before
            }
            watch.counters = counters
            guard let last = watch.lastSample, now > last else {
                watch.lastSample = now
                continue
            }
            watch.lastSample = now
            watch.rate = Double(routed) * 1000 / Double(now - last)
            // While units are still joining or draining the count is in flux: decide later.
            let settled = (section.moves ?? []).isEmpty && !section.units.contains { $0.draining == true }
            // The count the broker aims at (a unit restarting still counts).
            let units = section.expectedUnits
            guard units > 0 else { continue }
            let config = watch.config
            let target = Double(config.targetPerUnit)
            let cooldown = UInt64(config.cooldownMilliseconds)
            if watch.rate / Double(units) > target {
                watch.highSince = watch.highSince ?? now
            } else {
                watch.highSince = nil
            }
            if units > 1, watch.rate / Double(units - 1) < target / 2 {
                watch.lowSince = watch.lowSince ?? now
            } else {
                watch.lowSince = nil
            }
            let quiet = watch.lastChange.map { now - min(now, $0) >= cooldown } ?? true
            guard settled, quiet else { continue }
            let perUnit = Int(watch.rate / Double(units))
            if let since = watch.highSince, now - since >= cooldown, units < config.max {
                decisions.append(Decision(section: section.name, units: units + 1, reason:
                    "autoscale: \(perUnit) requests/s per unit for \(cooldown / 1000) s, above the target of \(config.targetPerUnit); adding a unit (max \(config.max))"))
            } else if let since = watch.lowSince, now - since >= cooldown, units > config.min {
                decisions.append(Decision(section: section.name, units: units - 1, reason:
                    "autoscale: \(perUnit) requests/s per unit for \(cooldown / 1000) s, well below the target of \(config.targetPerUnit); removing a unit (min \(config.min))"))
            } else {
                continue
            }
            watch.lastChange = now
            watch.highSince = nil
            watch.lowSince = nil
        }
        return decisions
    }
}
