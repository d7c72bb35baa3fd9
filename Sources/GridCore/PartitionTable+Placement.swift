/// Placement: the first placement (or the rebuild after a broker restart), orphans
/// taken back by a returning holder or leased afresh, and backups.
extension PartitionTable {
    mutating func placeIfDue(section: String, now: UInt64) -> [TableChange] {
        guard var state = sections[section], !state.placed else { return [] }
        guard !state.units.isEmpty, let firstJoin = state.firstJoin else { return [] }
        let waitedEnough = now >= firstJoin && now - firstJoin >= placementDelayMilliseconds
        let everyoneReported = state.units.count >= state.expectedUnits
        guard everyoneReported || waitedEnough else { return [] }
        var changes: [TableChange] = []
        var fresh: [Int] = []
        // Rule 2: keep what the units already hold.
        for partition in state.slots.indices {
            let holders = state.units.compactMap { unit in state.holdings[unit]?[partition].map { (unit: unit, holding: $0) } }
            var slot = state.slots[partition]
            slot.epoch = max(slot.epoch, holders.map(\.holding.epoch).max() ?? 0)
            slot.lastSequence = max(slot.lastSequence, holders.map(\.holding.sequence).max() ?? 0)
            let current = holders.filter { $0.holding.epoch == slot.epoch }
            let followers = current.filter { $0.holding.role == .backup }
            if let claimant = current.first(where: { $0.holding.role == .primary }) {
                // The primary of the highest epoch goes on under it, with its followers.
                slot.primary = claimant.unit
                slot.backups = Array(followers.map(\.unit).sorted().prefix(state.backupCount))
                slot.inSync = slot.backups.filter { claimant.holding.inSyncBackups.contains($0) }
                changes.append(.leased(section: section, partition: partition, unit: claimant.unit, epoch: slot.epoch, load: nil))
            } else if let best = followers.filter({ $0.holding.inSync }).max(by: { ($0.holding.sequence, $1.unit) < ($1.holding.sequence, $0.unit) }) {
                // No primary reported: a backup its primary confirmed in sync takes over.
                slot.primary = best.unit
                slot.backups = Array(followers.map(\.unit).filter { $0 != best.unit }.sorted().prefix(state.backupCount))
                slot.inSync = slot.backups.filter { unit in followers.contains { $0.unit == unit && $0.holding.inSync } }
                slot.epoch = nextEpoch(slot)
                changes.append(.promoted(section: section, partition: partition, unit: best.unit, epoch: slot.epoch, previous: nil, sequence: best.holding.sequence))
            } else {
                // Nobody who holds all it acknowledged has reported: wait for the missing units
                // (rule 4), or, when every expected unit is here, start it again.
                slot.orphan = Orphan(since: now, eligible: nil, hadData: !holders.isEmpty)
                if everyoneReported { fresh.append(partition) }
                state.slots[partition] = slot
                continue
            }
            for backup in slot.backups {
                changes.append(.backupAdded(section: section, partition: partition, unit: backup, epoch: slot.epoch))
            }
            state.slots[partition] = slot
        }
        state.placed = true
        sections[section] = state
        changes += leaseAfresh(section: section, partitions: fresh)
        changes += fillBackups(section: section)
        changes.append(.placed(section: section))
        return changes
    }

    /// A unit joined a placed section: orphans it may take back (it holds what they
    /// acknowledged) become its own under a new epoch; orphans waiting for it that it
    /// does not hold are given up on.
    mutating func adoptOrphans(section: String, returning unit: String, now: UInt64) -> [TableChange] {
        guard var state = sections[section] else { return [] }
        var changes: [TableChange] = []
        var givenUp: [Int] = []
        let held = state.holdings[unit] ?? [:]
        let everyoneReported = state.units.count >= state.expectedUnits
        for partition in state.slots.indices {
            guard let orphan = state.slots[partition].orphan else { continue }
            var slot = state.slots[partition]
            let holding = held[partition]
            let eligible: Bool
            if let names = orphan.eligible {
                eligible = names.contains(unit) && holding.map { $0.epoch == slot.epoch } == true
            } else {
                eligible = holding.map { ($0.role == .primary || $0.inSync) && $0.epoch >= slot.epoch } == true
            }
            if eligible, let holding {
                slot.primary = unit
                slot.backups.removeAll { $0 == unit }
                slot.inSync = []
                slot.epoch = nextEpoch(Slot(epoch: max(slot.epoch, holding.epoch)))
                slot.orphan = nil
                slot.load = nil
                slot.lastSequence = max(slot.lastSequence, holding.sequence)
                changes.append(.promoted(section: section, partition: partition, unit: unit, epoch: slot.epoch, previous: nil, sequence: holding.sequence))
            } else if var names = orphan.eligible, names.contains(unit) {
                // It came back without the partition (a new process): it cannot return it.
                names.remove(unit)
                slot.orphan?.eligible = names
                if names.isEmpty { givenUp.append(partition) }
            } else if orphan.eligible == nil, everyoneReported {
                givenUp.append(partition)
            }
            state.slots[partition] = slot
        }
        sections[section] = state
        return changes + leaseAfresh(section: section, partitions: givenUp)
    }

    /// Leases orphans to the live units leading the fewest, to be loaded from the database.
    /// One that had data is announced lost, and its sequence jumps past anything reported.
    mutating func leaseAfresh(section: String, partitions: [Int]) -> [TableChange] {
        guard var state = sections[section], !state.units.isEmpty, !partitions.isEmpty else { return [] }
        var counts = state.primaryCounts
        var changes: [TableChange] = []
        for partition in partitions {
            var slot = state.slots[partition]
            guard slot.primary == nil else { continue }
            let candidates = state.activeUnits.isEmpty ? state.units : state.activeUnits
            let unit = candidates.min { (counts[$0]!, $0) < (counts[$1]!, $1) }!
            counts[unit]! += 1
            let hadData = slot.orphan?.hadData ?? false
            let floor = hadData ? slot.lastSequence &+ Self.lossJump : 0
            if hadData { changes.append(.lost(section: section, partition: partition)) }
            slot.primary = unit
            slot.backups.removeAll { $0 == unit }
            slot.inSync = []
            slot.epoch = nextEpoch(slot)
            slot.load = floor
            slot.orphan = nil
            slot.lastSequence = max(slot.lastSequence, floor)
            state.slots[partition] = slot
            changes.append(.leased(section: section, partition: partition, unit: unit, epoch: slot.epoch, load: floor))
        }
        sections[section] = state
        return changes + fillBackups(section: section)
    }

    /// Gives every partition its backups, spread evenly, never on its primary's unit nor,
    /// where the section has a unit on another host, on a host that already holds a copy;
    /// drops surplus ones where no move is under way.
    mutating func fillBackups(section: String) -> [TableChange] {
        guard var state = sections[section], state.placed else { return [] }
        let desired = state.desiredBackups
        guard desired > 0 else { return trimBackups(section: section) }
        var counts = state.backupCounts
        var changes: [TableChange] = []
        for partition in state.slots.indices {
            guard let primary = state.slots[partition].primary else { continue }
            while state.slots[partition].backups.count < desired {
                let taken = Set(state.slots[partition].backups + [primary])
                let candidates = state.activeUnits.filter { !taken.contains($0) }
                let usedHosts = Set(taken.map { state.host(of: $0) })
                let elsewhere = candidates.filter { !usedHosts.contains(state.host(of: $0)) }
                guard let unit = (elsewhere.isEmpty ? candidates : elsewhere).min(by: { (counts[$0]!, $0) < (counts[$1]!, $1) }) else { break }
                counts[unit]! += 1
                state.slots[partition].backups.append(unit)
                changes.append(.backupAdded(section: section, partition: partition, unit: unit, epoch: state.slots[partition].epoch))
            }
        }
        sections[section] = state
        return changes + trimBackups(section: section)
    }
}
