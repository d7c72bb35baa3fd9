/// Online rebalancing: moves planned by `RebalancePlanner`, carried out in the order
/// that never leaves a partition with fewer in-sync replicas than before:
///
/// 1. the target is added as an extra backup (it counts for nothing until its primary
///    reports it in sync);
/// 2. a backup move then drops the source's copy; a primary move tells the primary to
///    stop serving the partition but keep it (requests for it wait at the broker);
/// 3. once the old primary's report answers that assignment, the target is promoted
///    under a new epoch (the waiting requests go to it), and the old primary follows it
///    as a backup where one is needed. A broker restarting meanwhile finds the old
///    primary still claiming the partition under the old epoch, and keeps it there.
///
/// A move whose target dies is dropped (a handover under way gives the partition back to
/// its old primary, under a newer epoch); one whose primary dies ends in an ordinary
/// failover.
extension PartitionTable {
    /// How long a move may wait for its target to be in sync before it is given up.
    public static let moveTimeoutMilliseconds: UInt64 = 60_000

    /// Sets how many units `section` should have. Live units beyond that (the most
    /// recently added: the highest numbers) drain; fewer live units are rebalanced
    /// onto as they join. Returns nil for an unknown section or a count below 1.
    public mutating func scale(section: String, units: Int, now: UInt64) -> [TableChange]? {
        guard var state = sections[section], units >= 1 else { return nil }
        state.expectedUnits = units
        state.scaled = true
        sections[section] = state
        refreshDraining(section: section)
        let draining = sections[section]!.draining.sorted(by: Self.unitOrder)
        return [.scaled(section: section, units: units, draining: draining)] + rebalance(section: section, now: now)
    }

    /// Unit names in the order they were added: by their number (`customer-10` after
    /// `customer-9`), then by name.
    public static func unitOrder(_ a: String, _ b: String) -> Bool {
        func number(_ name: String) -> Int {
            Int(String(name.reversed().prefix { $0.isNumber }.reversed())) ?? Int.max
        }
        return (number(a), a) < (number(b), b)
    }

    /// After `scale`, the live units beyond the section's count drain.
    mutating func refreshDraining(section: String) {
        guard var state = sections[section], state.scaled else { return }
        state.draining = Set(state.units.sorted(by: Self.unitOrder).dropFirst(state.expectedUnits))
        sections[section] = state
    }

    /// Advances the moves under way, drops surplus backups, and starts new moves.
    mutating func rebalance(section: String, now: UInt64) -> [TableChange] {
        guard let state = sections[section], state.placed else { return [] }
        var changes: [TableChange] = []
        for partition in state.moves.keys.sorted() {
            changes += advance(section: section, partition: partition, now: now)
        }
        // The wanted count changes with draining; fill or trim to it.
        changes += fillBackups(section: section)
        let current = sections[section]!
        guard current.orphanCount == 0 else { return changes }
        let lines = current.slots.map { slot in
            RebalancePlanner.Line(primary: slot.primary, backups: slot.backups, inSync: slot.inSync,
                                  settled: slot.orphan == nil && slot.handover == nil)
        }
        let planned = RebalancePlanner.plan(units: current.units, draining: current.draining, lines: lines, moves: current.moves,
                                            desiredBackups: current.desiredBackups, limit: maxConcurrentMoves, hosts: current.hosts)
        for var move in planned {
            move.since = now
            sections[section]!.moves[move.partition] = move
            changes.append(.moveStarted(section: section, partition: move.partition, kind: move.kind, from: move.from, to: move.to))
            changes += advance(section: section, partition: move.partition, now: now)
        }
        return changes
    }

    /// One step of a move: add the target, then (once it is in sync) drop the source's
    /// backup or begin the handover.
    mutating func advance(section: String, partition: Int, now: UInt64) -> [TableChange] {
        guard var state = sections[section], let move = state.moves[partition] else { return [] }
        var slot = state.slots[partition]
        guard slot.handover == nil else { return [] }
        let stillValid: Bool
        switch move.kind {
        case .primary: stillValid = slot.primary == move.from
        case .backup: stillValid = slot.primary != nil && slot.primary != move.to && slot.backups.contains(move.from)
        }
        if !stillValid || !state.units.contains(move.to) || state.draining.contains(move.to) {
            state.moves[partition] = nil
            sections[section] = state
            return [.moveCancelled(section: section, partition: partition, reason: "the partition or its units changed")]
        }
        if !slot.inSync.contains(move.to), now >= move.since, now - move.since >= Self.moveTimeoutMilliseconds {
            state.moves[partition] = nil
            sections[section] = state
            return [.moveCancelled(section: section, partition: partition, reason: "\(move.to) did not catch up in time")] + trimBackups(section: section)
        }
        var changes: [TableChange] = []
        if !slot.backups.contains(move.to) {
            slot.backups.append(move.to)
            changes.append(.backupAdded(section: section, partition: partition, unit: move.to, epoch: slot.epoch))
        }
        if slot.inSync.contains(move.to) {
            switch move.kind {
            case .backup:
                state.moves[partition] = nil
                if slot.backups.count > state.desiredBackups {
                    slot.backups.removeAll { $0 == move.from }
                    slot.inSync.removeAll { $0 == move.from }
                    changes.append(.backupRemoved(section: section, partition: partition, unit: move.from))
                    changes.append(.moved(section: section, partition: partition, kind: .backup, from: move.from, to: move.to))
                } else {
                    // Another backup died meanwhile: the target filled its place, and the source stays.
                    changes.append(.moveCancelled(section: section, partition: partition, reason: "a backup left; \(move.to) took its place"))
                }
            case .primary:
                slot.handover = Handover(to: move.to, epoch: nextEpoch(slot))
                changes.append(.handingOver(section: section, partition: partition, from: move.from, to: move.to))
            }
        }
        state.slots[partition] = slot
        sections[section] = state
        return changes
    }

    /// The old primary's report answers the assignment that stopped it serving: it serves
    /// nothing of the partition any more, and its target takes over.
    mutating func completeHandover(section: String, partition: Int, sequence: UInt64) -> [TableChange] {
        guard var state = sections[section], let handover = state.slots[partition].handover,
              let from = state.slots[partition].primary else { return [] }
        var slot = state.slots[partition]
        let to = handover.to
        slot.handover = nil
        slot.primary = to
        slot.epoch = handover.epoch
        slot.load = nil
        slot.backups.removeAll { $0 == to }
        slot.inSync.removeAll { $0 == to }
        var changes: [TableChange] = [.promoted(section: section, partition: partition, unit: to, epoch: slot.epoch, previous: from,
                                                sequence: sequence)]
        // The old primary stays on (it resyncs from the new one) where a backup is wanted.
        if slot.backups.count < state.desiredBackups, !state.draining.contains(from) {
            slot.backups.append(from)
            changes.append(.backupAdded(section: section, partition: partition, unit: from, epoch: slot.epoch))
        }
        state.slots[partition] = slot
        state.moves[partition] = nil
        sections[section] = state
        changes.append(.moved(section: section, partition: partition, kind: .primary, from: from, to: to))
        return changes
    }

    /// A handover whose target died: the old primary serves its partition again, under a
    /// newer epoch (it kept all it acknowledged).
    mutating func abortHandover(section: String, partition: Int) -> [TableChange] {
        guard var state = sections[section], state.slots[partition].handover != nil,
              let primary = state.slots[partition].primary else { return [] }
        var slot = state.slots[partition]
        slot.epoch = nextEpoch(slot)
        slot.handover = nil
        state.slots[partition] = slot
        state.moves[partition] = nil
        sections[section] = state
        return [.moveCancelled(section: section, partition: partition, reason: "the new primary died before taking over"),
                .promoted(section: section, partition: partition, unit: primary, epoch: slot.epoch, previous: nil, sequence: slot.lastSequence)]
    }

    /// Drops backups beyond the wanted count where no move is under way: draining units'
    /// first, then ones not in sync, then the busiest unit's.
    mutating func trimBackups(section: String) -> [TableChange] {
        guard var state = sections[section] else { return [] }
        let desired = state.desiredBackups
        var counts = state.backupCounts
        var changes: [TableChange] = []
        for partition in state.slots.indices where state.moves[partition] == nil && state.slots[partition].handover == nil {
            var slot = state.slots[partition]
            guard slot.primary != nil else { continue }
            while slot.backups.count > desired {
                // Never below the wanted count of in-sync backups: a draining unit's copy
                // waits for its replacement to catch up.
                let keepInSync = min(desired, slot.inSync.count)
                let victim = slot.backups.sorted { a, b in
                    let left = (state.draining.contains(a) ? 0 : 1, slot.inSync.contains(a) ? 1 : 0, -(counts[a] ?? 0), a)
                    let right = (state.draining.contains(b) ? 0 : 1, slot.inSync.contains(b) ? 1 : 0, -(counts[b] ?? 0), b)
                    return left < right
                }.first { (slot.inSync.contains($0) ? slot.inSync.count - 1 : slot.inSync.count) >= keepInSync }
                guard let victim else { break }
                slot.backups.removeAll { $0 == victim }
                slot.inSync.removeAll { $0 == victim }
                counts[victim, default: 1] -= 1
                changes.append(.backupRemoved(section: section, partition: partition, unit: victim))
            }
            state.slots[partition] = slot
        }
        sections[section] = state
        return changes
    }
}
