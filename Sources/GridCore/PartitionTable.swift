/// The broker's partition table: for every partition of every section, the
/// unit that leads it, its backups (and which of them are in sync), and the epoch
/// of that lease (DESIGN.md sections 4 and 5).
///
/// Pure: the broker shell reports units joining (with what they already hold),
/// reporting their progress, and dying, and the passing of time; the table answers
/// with the `TableChange`s it made, which the shell turns into assignments for units
/// and grid events.
///
/// Rules:
/// 1. A section's first placement waits until its expected units have joined, or
///    `placementDelayMilliseconds` after the first unit still alive joined.
/// 2. The first placement keeps what units already hold (after a broker restart the
///    table is rebuilt from their reports): the unit claiming primary under the highest
///    epoch stays primary under that epoch, with the backups it counts in sync; without
///    one, a backup whose primary confirmed it in sync under that epoch is promoted.
///    A partition with no such holder waits (rule 4) while an expected unit is missing;
///    once every expected unit has reported, it is leased afresh and loaded from the
///    database.
/// 3. Only an in-sync backup is ever promoted. A backup is in sync when the primary
///    reports it so (REPORT); it stops being in sync only when the broker removes it.
///    When a primary dies, its in-sync backup with the highest reported sequence is
///    promoted, and the other in-sync backups stay in sync (the old primary held every
///    acknowledged write back for them, and the new one waits for them from the start).
/// 4. A partition left without its primary and without a live in-sync backup is
///    orphaned, not restarted: for `lossGraceMilliseconds` its last primary or an
///    in-sync backup may come back (a paused process) and takes it back with its data.
///    When none can (the grace ran out, or each of them came back without it), the
///    partition is lost (`grid.partition.lost`) and leased afresh: loaded from the
///    database, its sequence continuing at least 2^32 above anything reported, so no
///    version a client saw is issued again.
/// 5. Every partition gets `min(backups, units - 1)` backups, never on its primary's
///    unit, spread evenly; a new backup is not in sync until its primary says so.
/// 6. Every change of primary takes a new epoch, never granted before: a broker of
///    generation g grants epochs above `g << 16` (`epochFloor`), and generations grow
///    across broker restarts, so a stale holder never shares an epoch with a new one.
public struct PartitionTable: Sendable {
    /// One partition's line in the table.
    public struct Slot: Sendable, Equatable {
        public var primary: String?
        public var backups: [String]
        /// The backups the primary counts as in sync (a subset of `backups`, in its order).
        public var inSync: [String]
        public var epoch: UInt64
        /// Set while the primary's lease was granted without a replica: it loads the
        /// partition from the database and continues at or above this sequence.
        public var load: UInt64?
        /// Set while the partition has no primary.
        public var orphan: Orphan?
        /// The highest sequence any report showed (the floor of a lost partition's restart).
        public var lastSequence: UInt64
        /// Set while the primary hands the partition over (a primary move): nothing is routed
        /// to it until the new primary is promoted.
        public var handover: Handover?

        public init(primary: String? = nil, backups: [String] = [], inSync: [String] = [], epoch: UInt64 = 0, load: UInt64? = nil,
                    orphan: Orphan? = nil, lastSequence: UInt64 = 0) {
            self.primary = primary
            self.backups = backups
            self.inSync = inSync
            self.epoch = epoch
            self.load = load
            self.orphan = orphan
            self.lastSequence = lastSequence
        }
    }

    /// A partition without a primary, waiting for a unit that holds all it acknowledged.
    public struct Orphan: Sendable, Equatable {
        /// When it lost its primary.
        public var since: UInt64
        /// The units that may come back with its data (its last primary and in-sync backups);
        /// nil after a broker restart: any unit claiming it under the slot's epoch or later.
        public var eligible: Set<String>?
        /// The data it had may be gone: it is announced lost when leased again.
        public var hadData: Bool
    }

    /// What the table knows of one section.
    public struct SectionState: Sendable {
        public let name: String
        public let partitioner: Partitioner
        /// The units the section should have: the topology's count, or what `scale` set.
        public internal(set) var expectedUnits: Int
        public let backupCount: Int
        public internal(set) var slots: [Slot]
        /// Live units, sorted by name.
        public internal(set) var units: [String] = []
        public internal(set) var placed = false
        var firstJoin: UInt64?
        /// What each live unit last reported holding, by partition.
        public internal(set) var holdings: [String: [Int: Holding]] = [:]
        /// Each live unit's process (its random incarnation).
        public internal(set) var incarnations: [String: UInt64] = [:]
        /// The host each live unit said it runs on: a partition's copies go to different
        /// hosts where the section has units on more than one.
        public internal(set) var hosts: [String: String] = [:]
        /// Whether `scale` set the count: only then do units beyond it drain.
        public internal(set) var scaled = false
        /// Moves under way, by partition.
        public internal(set) var moves: [Int: Move] = [:]
        /// Live units beyond `expectedUnits` (the most recently added): they hand off what
        /// they hold and receive nothing.
        public internal(set) var draining: Set<String> = []

        /// Live units that are not draining.
        public var activeUnits: [String] { units.filter { !draining.contains($0) } }

        /// Draining units that hold nothing any more: they may stop.
        public var drained: [String] {
            draining.filter { unit in !slots.contains { $0.primary == unit || $0.backups.contains(unit) } }.sorted()
        }

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

        /// The host of `unit`: the one it reported, else its own name (a host of its own).
        public func host(of unit: String) -> String { hosts[unit] ?? "unit:" + unit }

        /// Backups each partition should have with the units alive now (draining ones aside).
        public var desiredBackups: Int { max(0, min(backupCount, activeUnits.count - 1)) }
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

    public internal(set) var sections: [String: SectionState]
    /// The section of every live unit.
    public internal(set) var unitSections: [String: String] = [:]
    public let placementDelayMilliseconds: UInt64
    public let lossGraceMilliseconds: UInt64
    /// Moves under way at once in one section (each copies a partition).
    public var maxConcurrentMoves = 4
    /// How often moves are advanced and planned (the broker ticks far more often).
    public static let rebalanceMilliseconds: UInt64 = 100
    var lastRebalance: UInt64 = 0
    /// Every epoch this table grants is above this (the broker's generation, shifted).
    public let epochFloor: UInt64

    /// How far a lost partition's sequence jumps past anything reported.
    public static let lossJump: UInt64 = 1 << 32
    /// Epochs one broker generation may grant per partition.
    public static let generationShift: UInt64 = 16

    public init(sections specs: [SectionSpec], placementDelayMilliseconds: UInt64 = 2_000, lossGraceMilliseconds: UInt64 = 3_000, generation: UInt64 = 0) {
        var sections: [String: SectionState] = [:]
        for spec in specs {
            sections[spec.name] = SectionState(
                name: spec.name, partitioner: spec.partitioner, expectedUnits: spec.expectedUnits,
                backupCount: spec.backups, slots: Array(repeating: Slot(), count: spec.partitioner.partitionCount))
        }
        self.sections = sections
        self.placementDelayMilliseconds = placementDelayMilliseconds
        self.lossGraceMilliseconds = lossGraceMilliseconds
        epochFloor = generation << Self.generationShift
    }

    // MARK: - Queries

    /// The primary of a partition and its epoch, when it has one.
    @inlinable
    public func primary(section: String, partition: Int) -> (unit: String, epoch: UInt64)? {
        guard let slots = sections[section]?.slots, slots.indices.contains(partition),
              let unit = slots[partition].primary, slots[partition].handover == nil else { return nil }
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
            let role: Role
            if slot.primary == unit {
                role = .primary
            } else if slot.backups.contains(unit), slot.primary != nil {
                role = .backup
            } else {
                continue
            }
            var incarnations: [String: UInt64] = [:]
            for backup in slot.backups { incarnations[backup] = state.incarnations[backup] ?? 0 }
            result.append(Assignment(
                lease: Lease(partition: partition, epoch: slot.epoch, role: role), primary: slot.primary!, backups: slot.backups,
                inSync: slot.inSync, incarnations: incarnations, load: role == .primary ? slot.load : nil,
                handover: role == .primary ? slot.handover?.to : nil))
        }
        return result
    }

    /// Whether every partition of every section has a primary.
    public var isComplete: Bool {
        sections.values.allSatisfy { $0.placed && $0.orphanCount == 0 }
    }

    /// The next epoch for a slot: above its own and above this generation's floor.
    func nextEpoch(_ slot: Slot) -> UInt64 { max(slot.epoch, slot.handover?.epoch ?? 0, epochFloor) + 1 }
}

/// What changed in the partition table; the broker shell turns these into
/// assignments for the units concerned and into grid events.
public enum TableChange: Sendable, Equatable {
    case unitJoined(section: String, unit: String)
    case unitLeft(section: String, unit: String)
    /// `unit` leads `partition` under `epoch` without a promotion: kept from before a broker
    /// restart (`load` nil), or granted afresh to load from the database (`load`: its floor).
    case leased(section: String, partition: Int, unit: String, epoch: UInt64, load: UInt64?)
    /// A replica on `unit` became primary under `epoch` (`previous`: the primary it replaces, if known).
    case promoted(section: String, partition: Int, unit: String, epoch: UInt64, previous: String?, sequence: UInt64)
    case backupAdded(section: String, partition: Int, unit: String, epoch: UInt64)
    case backupRemoved(section: String, partition: Int, unit: String)
    /// The primary reported `unit` in sync: from now on it may be promoted.
    case inSync(section: String, partition: Int, unit: String)
    /// The partition lost its primary (`previous`) and no in-sync backup lives: it waits.
    case orphaned(section: String, partition: Int, previous: String?)
    /// No unit that holds what the partition acknowledged can come back: it starts again
    /// from the database (empty without one).
    case lost(section: String, partition: Int)
    /// The section's first placement happened.
    case placed(section: String)
    /// A move began: `to` is added as an extra backup (if it is not one yet).
    case moveStarted(section: String, partition: Int, kind: Move.Kind, from: String, to: String)
    /// The primary `from` was told to stop serving and follow `to`.
    case handingOver(section: String, partition: Int, from: String, to: String)
    /// A move finished: `to` leads (or backs up) the partition instead of `from`.
    case moved(section: String, partition: Int, kind: Move.Kind, from: String, to: String)
    /// A move was given up (`reason`); nothing was dropped.
    case moveCancelled(section: String, partition: Int, reason: String)
    /// The section's unit count was set; `draining` lists the units to be emptied.
    case scaled(section: String, units: Int, draining: [String])
}
