/// The broker's partition table: for every partition of every section, the
/// unit that leads it, its backups, and the epoch of that lease (DESIGN.md
/// sections 4 and 5).
///
/// Pure: the broker shell reports units joining (with what they already
/// hold), reporting their progress, and dying, and the passing of time; the
/// table answers with the `TableChange`s it made, which the shell turns into
/// assignments for units and grid events.
///
/// Rules:
/// 1. A section's first placement waits until its expected units have joined,
///    or `placementDelayMilliseconds` after the first unit still alive joined,
///    so a grid that starts its units together spreads partitions evenly at once.
/// 2. Placement keeps what units already hold (after a broker restart the table
///    is rebuilt from their reports): the holder claiming primary with the
///    highest epoch stays primary; without one, the replica with the highest
///    sequence is promoted. A partition nobody holds goes to the unit leading the fewest.
/// 3. When a primary dies, its in-sync backup with the highest reported
///    sequence is promoted. Only when no replica lives is the partition given,
///    empty, to the least-loaded unit (`lost`).
/// 4. Every partition gets `min(backups, units - 1)` backups, never on its
///    primary's unit, spread evenly. A unit joining after placement takes no
///    primary by force: it becomes a backup where one is missing.
/// 5. Every change of primary bumps the partition's epoch; epochs only grow.
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
        public let backupCount: Int
        public internal(set) var slots: [Slot]
        /// Live units, sorted by name.
        public internal(set) var units: [String] = []
        public internal(set) var placed = false
        var firstJoin: UInt64?
        /// What each live unit last reported holding, by partition.
        public internal(set) var holdings: [String: [Int: Holding]] = [:]

        /// How many partitions each live unit leads.
        public var primaryCounts: [String: Int] {
            var counts = Dictionary(uniqueKeysWithValues: units.map { ($0, 0) })
            for slot in slots { if let primary = slot.primary { counts[primary, default: 0] += 1 } }
            return counts
        }

        /// How many partitions each live unit backs up.
        public var backupCounts: [String: Int] {
            var counts = Dictionary(uniqueKeysWithValues: units.map { ($0, 0) })
            for slot in slots { for backup in slot.backups { counts[backup, default: 0] += 1 } }
            return counts
        }

        /// Partitions without a live primary.
        public var orphanCount: Int { slots.filter { $0.primary == nil }.count }

        /// Backups each partition should have with the units alive now.
        public var desiredBackups: Int { max(0, min(backupCount, units.count - 1)) }
    }

    /// Declares one section for the table.
    public struct SectionSpec: Sendable {
        public var name: String
        public var partitioner: Partitioner
        public var expectedUnits: Int
        public var backups: Int

        public init(name: String, partitioner: Partitioner, expectedUnits: Int, backups: Int = 0) {
            self.name = name
            self.partitioner = partitioner
            self.expectedUnits = expectedUnits
            self.backups = backups
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
                backupCount: spec.backups, slots: Array(repeating: Slot(), count: spec.partitioner.partitionCount))
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
        return (unit, slots[partition].epoch)
    }

    /// Every lease `unit` holds, sorted by partition.
    public func leases(of unit: String) -> [Lease] {
        assignments(of: unit).map(\.lease)
    }

    /// Every lease `unit` holds with the partition's other members, sorted by partition.
    public func assignments(of unit: String) -> [Assignment] {
        guard let section = unitSections[unit], let state = sections[section] else { return [] }
        var result: [Assignment] = []
        for (partition, slot) in state.slots.enumerated() {
            if slot.primary == unit {
                result.append(Assignment(lease: Lease(partition: partition, epoch: slot.epoch, role: .primary), primary: unit, backups: slot.backups))
            } else if slot.backups.contains(unit), let primary = slot.primary {
                result.append(Assignment(lease: Lease(partition: partition, epoch: slot.epoch, role: .backup), primary: primary, backups: slot.backups))
            }
        }
        return result
    }

    /// Whether every partition of every section has a primary.
    public var isComplete: Bool {
        sections.values.allSatisfy { $0.placed && $0.orphanCount == 0 }
    }

    // MARK: - Events

    /// A unit announced itself for `section`, with what it already holds
    /// (nothing for a fresh process; its partitions after a broker restart or a pause).
    public mutating func onUnitReady(section: String, unit: String, holdings: [Holding] = [], now: UInt64) -> [TableChange] {
        guard sections[section] != nil else { return [] }
        var changes: [TableChange] = []
        if unitSections[unit] != nil {
            // The same name again: the old incarnation is gone (it restarted faster than detection).
            changes += onUnitDead(unit: unit)
        }
        var state = sections[section]!
        unitSections[unit] = section
        if !state.units.contains(unit) {
            state.units.append(unit)
            state.units.sort()
        }
        state.holdings[unit] = Dictionary(holdings.filter { state.slots.indices.contains($0.partition) }.map { ($0.partition, $0) }, uniquingKeysWith: { a, _ in a })
        changes.append(.unitJoined(section: section, unit: unit))
        if state.firstJoin == nil { state.firstJoin = now }
        sections[section] = state
        if state.placed {
            changes += adoptOrphans(section: section, from: unit)
            changes += placeOrphans(section: section)
            changes += fillBackups(section: section)
        } else {
            changes += placeIfDue(section: section, now: now)
        }
        return changes
    }

    /// A unit's periodic report of what it holds; returns `caughtUp` for backups that just got in sync.
    public mutating func onReport(unit: String, holdings: [Holding]) -> [TableChange] {
        guard let section = unitSections[unit], var state = sections[section] else { return [] }
        var changes: [TableChange] = []
        let previous = state.holdings[unit] ?? [:]
        var next: [Int: Holding] = [:]
        for holding in holdings where state.slots.indices.contains(holding.partition) {
            next[holding.partition] = holding
            let slot = state.slots[holding.partition]
            if holding.role == .backup, holding.inSync, holding.epoch == slot.epoch, slot.backups.contains(unit),
               !(previous[holding.partition].map { $0.inSync && $0.epoch == holding.epoch } ?? false) {
                changes.append(.caughtUp(section: section, partition: holding.partition, unit: unit, sequence: holding.sequence))
            }
        }
        state.holdings[unit] = next
        sections[section] = state
        return changes
    }

    /// A unit was declared dead (missed heartbeats) or said goodbye.
    public mutating func onUnitDead(unit: String) -> [TableChange] {
        guard let section = unitSections.removeValue(forKey: unit), var state = sections[section] else { return [] }
        state.units.removeAll { $0 == unit }
        state.holdings[unit] = nil
        // Before placement, the delay runs from the first join of a unit still alive.
        if !state.placed && state.units.isEmpty { state.firstJoin = nil }
        var changes: [TableChange] = [.unitLeft(section: section, unit: unit)]
        for partition in state.slots.indices {
            if state.slots[partition].backups.contains(unit) {
                state.slots[partition].backups.removeAll { $0 == unit }
                changes.append(.backupRemoved(section: section, partition: partition, unit: unit))
            }
            guard state.slots[partition].primary == unit else { continue }
            state.slots[partition].primary = nil
            let epoch = state.slots[partition].epoch
            // The in-sync backup with the highest sequence at this epoch; then any backup.
            let candidates = state.slots[partition].backups.map { backup -> (String, Bool, UInt64) in
                let held = state.holdings[backup]?[partition]
                let current = held.map { $0.epoch == epoch } ?? false
                return (backup, current && held!.inSync, current ? held!.sequence : 0)
            }
            // Ties (in-sync backups usually report the same sequence) go to the unit leading fewest.
            let counts = state.primaryCounts
            if let best = candidates.max(by: { ($0.1 ? 1 : 0, $0.2, -(counts[$0.0] ?? 0), $1.0) < ($1.1 ? 1 : 0, $1.2, -(counts[$1.0] ?? 0), $0.0) }) {
                state.slots[partition].backups.removeAll { $0 == best.0 }
                state.slots[partition].primary = best.0
                state.slots[partition].epoch += 1
                changes.append(.promoted(section: section, partition: partition, unit: best.0, epoch: state.slots[partition].epoch, previous: unit, sequence: best.2, complete: best.1))
            } else {
                changes.append(.orphaned(section: section, partition: partition, previous: unit))
            }
        }
        sections[section] = state
        if state.placed {
            changes += placeOrphans(section: section)
            changes += fillBackups(section: section)
        }
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
        guard var state = sections[section], !state.placed else { return [] }
        guard !state.units.isEmpty, let firstJoin = state.firstJoin else { return [] }
        let waitedEnough = now >= firstJoin && now - firstJoin >= placementDelayMilliseconds
        guard state.units.count >= state.expectedUnits || waitedEnough else { return [] }
        var changes: [TableChange] = []
        // Rule 2: keep what the units already hold.
        for partition in state.slots.indices {
            let holders = state.units.compactMap { unit in state.holdings[unit]?[partition].map { (unit, $0) } }
            guard !holders.isEmpty else { continue }
            let maxEpoch = max(state.slots[partition].epoch, holders.map(\.1.epoch).max()!)
            let claimants = holders.filter { $0.1.role == .primary && $0.1.epoch == maxEpoch }
            let chosen: (String, Holding)
            let promoted: Bool
            if let claimant = claimants.max(by: { ($0.1.sequence, $1.0) < ($1.1.sequence, $0.0) }) {
                chosen = claimant
                promoted = false
            } else {
                chosen = holders.max(by: { ($0.1.epoch, $0.1.inSync ? 1 : 0, $0.1.sequence, $1.0) < ($1.1.epoch, $1.1.inSync ? 1 : 0, $1.1.sequence, $0.0) })!
                promoted = true
            }
            state.slots[partition].primary = chosen.0
            state.slots[partition].epoch = promoted ? maxEpoch + 1 : maxEpoch
            state.slots[partition].backups = holders.map(\.0).filter { $0 != chosen.0 }.prefix(state.backupCount).sorted()
            let epoch = state.slots[partition].epoch
            if promoted {
                changes.append(.promoted(section: section, partition: partition, unit: chosen.0, epoch: epoch, previous: nil, sequence: chosen.1.sequence, complete: chosen.1.inSync))
            } else {
                changes.append(.leased(section: section, partition: partition, unit: chosen.0, epoch: epoch))
            }
            for backup in state.slots[partition].backups {
                changes.append(.backupAdded(section: section, partition: partition, unit: backup, epoch: epoch))
            }
        }
        state.placed = true
        sections[section] = state
        changes += placeOrphans(section: section, fresh: true)
        changes += fillBackups(section: section)
        changes.append(.placed(section: section))
        return changes
    }

    /// Partitions `unit` holds that the table cannot serve better go to it: orphans (a
    /// paused unit back), and partitions it holds under a newer epoch than the table's,
    /// which only happens when a rebuilt table placed them before this unit reported
    /// (a broker restarted while the unit was unreachable). The table's epochs never
    /// go backwards; the primary placed meanwhile becomes a backup and resyncs.
    private mutating func adoptOrphans(section: String, from unit: String) -> [TableChange] {
        guard var state = sections[section], let held = state.holdings[unit] else { return [] }
        var changes: [TableChange] = []
        for (partition, holding) in held.sorted(by: { $0.key < $1.key }) {
            let slot = state.slots[partition]
            guard slot.primary == nil || holding.epoch > slot.epoch else { continue }
            let previous = slot.primary
            state.slots[partition].primary = unit
            state.slots[partition].backups.removeAll { $0 == unit }
            if let previous, state.slots[partition].backups.count < state.backupCount {
                state.slots[partition].backups.append(previous)
            }
            state.slots[partition].epoch = max(slot.epoch, holding.epoch) + 1
            changes.append(.promoted(section: section, partition: partition, unit: unit, epoch: state.slots[partition].epoch, previous: previous, sequence: holding.sequence, complete: holding.inSync))
        }
        sections[section] = state
        return changes
    }

    /// Partitions without a primary and without a live replica go, empty, to the unit leading the fewest.
    private mutating func placeOrphans(section: String, fresh: Bool = false) -> [TableChange] {
        guard var state = sections[section], !state.units.isEmpty else { return [] }
        var counts = state.primaryCounts
        var changes: [TableChange] = []
        for partition in state.slots.indices where state.slots[partition].primary == nil {
            // Fewest primaries first, then name: deterministic and even.
            let unit = state.units.min { (counts[$0]!, $0) < (counts[$1]!, $1) }!
            counts[unit]! += 1
            state.slots[partition].primary = unit
            state.slots[partition].backups.removeAll { $0 == unit }
            state.slots[partition].epoch += 1
            if !fresh { changes.append(.lost(section: section, partition: partition)) }
            changes.append(.leased(section: section, partition: partition, unit: unit, epoch: state.slots[partition].epoch))
        }
        sections[section] = state
        return changes
    }

    /// Gives every partition its backups, spread evenly, never on its primary's unit.
    private mutating func fillBackups(section: String) -> [TableChange] {
        guard var state = sections[section] else { return [] }
        let desired = state.desiredBackups
        guard desired > 0 else { return [] }
        var counts = state.backupCounts
        var changes: [TableChange] = []
        for partition in state.slots.indices {
            guard let primary = state.slots[partition].primary else { continue }
            while state.slots[partition].backups.count < desired {
                let taken = Set(state.slots[partition].backups + [primary])
                guard let unit = state.units.filter({ !taken.contains($0) }).min(by: { (counts[$0]!, $0) < (counts[$1]!, $1) }) else { break }
                counts[unit]! += 1
                state.slots[partition].backups.append(unit)
                changes.append(.backupAdded(section: section, partition: partition, unit: unit, epoch: state.slots[partition].epoch))
            }
        }
        sections[section] = state
        return changes
    }
}

/// What a unit holds of one partition, as it reports it (READY and REPORT).
public struct Holding: Sendable, Equatable {
    public var partition: Int
    public var role: Role
    public var epoch: UInt64
    /// The last sequence applied.
    public var sequence: UInt64
    /// A backup that installed its snapshot and follows in order (always true for a primary).
    public var inSync: Bool

    public init(partition: Int, role: Role, epoch: UInt64, sequence: UInt64, inSync: Bool) {
        self.partition = partition
        self.role = role
        self.epoch = epoch
        self.sequence = sequence
        self.inSync = inSync
    }
}

/// A lease with the partition's other members: what a unit needs to replicate.
public struct Assignment: Sendable, Equatable {
    public var lease: Lease
    /// The partition's primary (the unit itself for a primary lease).
    public var primary: String
    public var backups: [String]

    public init(lease: Lease, primary: String, backups: [String]) {
        self.lease = lease
        self.primary = primary
        self.backups = backups
    }
}

/// What changed in the partition table; the broker shell turns these into
/// assignments for the units concerned and into grid events.
public enum TableChange: Sendable, Equatable {
    case unitJoined(section: String, unit: String)
    case unitLeft(section: String, unit: String)
    /// `unit` now leads `partition` under `epoch` (a first placement, or a partition that starts empty).
    case leased(section: String, partition: Int, unit: String, epoch: UInt64)
    /// A replica on `unit` became primary under `epoch`; `complete` when it was in sync.
    case promoted(section: String, partition: Int, unit: String, epoch: UInt64, previous: String?, sequence: UInt64, complete: Bool)
    case backupAdded(section: String, partition: Int, unit: String, epoch: UInt64)
    case backupRemoved(section: String, partition: Int, unit: String)
    /// A backup installed its snapshot and follows in order.
    case caughtUp(section: String, partition: Int, unit: String, sequence: UInt64)
    /// The partition lost its primary (`previous`) and has no replica to promote.
    case orphaned(section: String, partition: Int, previous: String)
    /// No replica of the partition lived: it starts again, empty.
    case lost(section: String, partition: Int)
    /// The section's first placement happened.
    case placed(section: String)
}
