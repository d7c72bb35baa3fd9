/// The broker's partition table: for every partition of every section, the
/// unit that leads it and the epoch of that lease (DESIGN.md sections 4 and 5).
///
/// Pure: the broker shell reports units joining and dying and the passing of
/// time; the table answers with the `TableChange`s it made, which the shell
/// turns into assignments for units and grid events.
///
/// Placement rules:
/// 1. A section's first placement waits until its expected units have joined,
///    or `placementDelayMilliseconds` after its first unit joined, so a grid
///    that starts its units together spreads partitions evenly at once.
/// 2. The first placement deals partition `p` to the `p mod n`-th unit (by name).
/// 3. Afterwards only partitions without a live primary move: each goes to the
///    live unit of its section that leads the fewest. A live unit never loses
///    a partition to a newcomer here; online rebalancing moves data first and
///    comes with replication.
/// 4. Every change of primary bumps the partition's epoch; epochs only grow.
public struct PartitionTable: Sendable {
    /// One partition's line in the table.
    public struct Slot: Sendable, Equatable {
        public var primary: String?
        public var backups: [String]
        public var epoch: UInt64

        public init(primary: String? = nil, backups: [String] = [], epoch: UInt64 = 0) {
            self.primary = primary
            self.backups = backups
            self.epoch = epoch
        }
    }

    /// What the table knows of one section.
    public struct SectionState: Sendable {
        public let name: String
        public let partitioner: Partitioner
        public let expectedUnits: Int
        public internal(set) var slots: [Slot]
        /// Live units, sorted by name.
        public internal(set) var units: [String] = []
        public internal(set) var placed = false
        var firstJoin: UInt64?

        /// How many partitions each live unit leads.
        public var primaryCounts: [String: Int] {
            var counts = Dictionary(uniqueKeysWithValues: units.map { ($0, 0) })
            for slot in slots { if let primary = slot.primary { counts[primary, default: 0] += 1 } }
            return counts
        }

        /// Partitions without a live primary.
        public var orphanCount: Int { slots.filter { $0.primary == nil }.count }
    }

    /// Declares one section for the table.
    public struct SectionSpec: Sendable {
        public var name: String
        public var partitioner: Partitioner
        public var expectedUnits: Int

        public init(name: String, partitioner: Partitioner, expectedUnits: Int) {
            self.name = name
            self.partitioner = partitioner
            self.expectedUnits = expectedUnits
        }
    }

    public private(set) var sections: [String: SectionState]
    /// The section of every live unit.
    public private(set) var unitSections: [String: String] = [:]
    public let placementDelayMilliseconds: UInt64

    public init(sections specs: [SectionSpec], placementDelayMilliseconds: UInt64 = 2_000) {
        var sections: [String: SectionState] = [:]
        for spec in specs {
            sections[spec.name] = SectionState(
                name: spec.name, partitioner: spec.partitioner, expectedUnits: spec.expectedUnits,
                slots: Array(repeating: Slot(), count: spec.partitioner.partitionCount))
        }
        self.sections = sections
        self.placementDelayMilliseconds = placementDelayMilliseconds
    }

    // MARK: - Queries

    /// The primary of a partition and its epoch, when it has one.
    @inlinable
    public func primary(section: String, partition: Int) -> (unit: String, epoch: UInt64)? {
        guard let slots = sections[section]?.slots, slots.indices.contains(partition),
              let unit = slots[partition].primary else { return nil }
        let slot = slots[partition]
        return (unit, slot.epoch)
    }

    /// Every lease `unit` holds, sorted by partition.
    public func leases(of unit: String) -> [Lease] {
        guard let section = unitSections[unit], let state = sections[section] else { return [] }
        var leases: [Lease] = []
        for (partition, slot) in state.slots.enumerated() {
            if slot.primary == unit { leases.append(Lease(partition: partition, epoch: slot.epoch, role: .primary)) }
            if slot.backups.contains(unit) { leases.append(Lease(partition: partition, epoch: slot.epoch, role: .backup)) }
        }
        return leases
    }

    /// Whether every partition of every section has a primary.
    public var isComplete: Bool {
        sections.values.allSatisfy { $0.placed && $0.orphanCount == 0 }
    }

    // MARK: - Events

    /// A unit announced itself for `section`. Unknown sections change nothing (the shell refuses them).
    public mutating func onUnitReady(section: String, unit: String, now: UInt64) -> [TableChange] {
        guard var state = sections[section] else { return [] }
        var changes: [TableChange] = []
        if unitSections[unit] != nil {
            // The same name again: the old incarnation is gone (it restarted faster than detection).
            changes += onUnitDead(unit: unit)
            state = sections[section]!
        }
        unitSections[unit] = section
        if !state.units.contains(unit) {
            state.units.append(unit)
            state.units.sort()
        }
        changes.append(.unitJoined(section: section, unit: unit))
        if state.firstJoin == nil { state.firstJoin = now }
        sections[section] = state
        changes += placeIfDue(section: section, now: now)
        return changes
    }

    /// A unit was declared dead (missed heartbeats) or said goodbye.
    public mutating func onUnitDead(unit: String) -> [TableChange] {
        guard let section = unitSections.removeValue(forKey: unit), var state = sections[section] else { return [] }
        state.units.removeAll { $0 == unit }
        // Before placement, the delay runs from the first join of a unit still alive.
        if !state.placed && state.units.isEmpty { state.firstJoin = nil }
        var changes: [TableChange] = [.unitLeft(section: section, unit: unit)]
        for partition in state.slots.indices {
            state.slots[partition].backups.removeAll { $0 == unit }
            if state.slots[partition].primary == unit {
                state.slots[partition].primary = nil
                changes.append(.orphaned(section: section, partition: partition, previous: unit))
            }
        }
        sections[section] = state
        if state.placed { changes += placeOrphans(section: section) }
        return changes
    }

    /// Time passed: places sections whose placement delay ran out.
    public mutating func onTick(now: UInt64) -> [TableChange] {
        var changes: [TableChange] = []
        for name in sections.keys.sorted() where !sections[name]!.placed {
            changes += placeIfDue(section: name, now: now)
        }
        return changes
    }

    // MARK: - Placement

    private mutating func placeIfDue(section: String, now: UInt64) -> [TableChange] {
        guard var state = sections[section] else { return [] }
        if state.placed { return placeOrphans(section: section) }
        guard !state.units.isEmpty, let firstJoin = state.firstJoin else { return [] }
        let waitedEnough = now >= firstJoin && now - firstJoin >= placementDelayMilliseconds
        guard state.units.count >= state.expectedUnits || waitedEnough else { return [] }
        var changes: [TableChange] = []
        for partition in state.slots.indices {
            let unit = state.units[partition % state.units.count]
            state.slots[partition].primary = unit
            state.slots[partition].epoch += 1
            changes.append(.leased(section: section, partition: partition, unit: unit, epoch: state.slots[partition].epoch))
        }
        state.placed = true
        sections[section] = state
        changes.append(.placed(section: section))
        return changes
    }

    private mutating func placeOrphans(section: String) -> [TableChange] {
        guard var state = sections[section], !state.units.isEmpty else { return [] }
        var counts = state.primaryCounts
        var changes: [TableChange] = []
        for partition in state.slots.indices where state.slots[partition].primary == nil {
            // Fewest primaries first, then name: deterministic and even.
            let unit = state.units.min { (counts[$0]!, $0) < (counts[$1]!, $1) }!
            counts[unit]! += 1
            state.slots[partition].primary = unit
            state.slots[partition].epoch += 1
            changes.append(.leased(section: section, partition: partition, unit: unit, epoch: state.slots[partition].epoch))
        }
        sections[section] = state
        return changes
    }
}

/// What changed in the partition table; the broker shell turns these into
/// assignments for the units concerned and into grid events.
public enum TableChange: Sendable, Equatable {
    case unitJoined(section: String, unit: String)
    case unitLeft(section: String, unit: String)
    /// `unit` now leads `partition` under `epoch`.
    case leased(section: String, partition: Int, unit: String, epoch: UInt64)
    /// The partition lost its primary (`previous`); it is unavailable until leased again.
    case orphaned(section: String, partition: Int, previous: String)
    /// The section's first placement happened.
    case placed(section: String)
}
