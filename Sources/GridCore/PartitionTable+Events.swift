/// The partition table's inputs: units joining, reporting and dying, and time.
extension PartitionTable {
    /// A unit announced itself for `section`, with what it already holds (nothing for a
    /// fresh process; its partitions after a broker restart or a pause) and its process id
    /// (`incarnation`), and the host it runs on (nil: a host of its own).
    public mutating func onUnitReady(section: String, unit: String, incarnation: UInt64 = 0, holdings: [Holding] = [], host: String? = nil,
                                     now: UInt64) -> [TableChange] {
        guard sections[section] != nil else { return [] }
        var changes: [TableChange] = []
        if unitSections[unit] != nil {
            // The same name again: the old registration is gone (a restart, or a unit the
            // broker still counted that registered anew).
            changes += onUnitsDead([unit], now: now)
        }
        var state = sections[section]!
        unitSections[unit] = section
        if state.units.isEmpty {
            // No unit of the section was alive (the broker cut off from all of them, more
            // likely than all of them dead): nothing could be leased meanwhile, and the others
            // are about to return too. Their grace runs from now, not from the cut.
            for partition in state.slots.indices where state.slots[partition].orphan != nil {
                state.slots[partition].orphan?.since = now
            }
        }
        if !state.units.contains(unit) {
            state.units.append(unit)
            state.units.sort()
        }
        state.holdings[unit] = Dictionary(holdings.filter { state.slots.indices.contains($0.partition) }.map { ($0.partition, $0) }, uniquingKeysWith: { a, _ in a })
        state.incarnations[unit] = incarnation
        state.hosts[unit] = host
        changes.append(.unitJoined(section: section, unit: unit))
        if state.firstJoin == nil { state.firstJoin = now }
        sections[section] = state
        refreshDraining(section: section)
        if state.placed {
            changes += adoptOrphans(section: section, returning: unit, now: now)
            changes += fillBackups(section: section)
        } else {
            changes += placeIfDue(section: section, now: now)
        }
        return changes
    }

    /// A unit's periodic report of what it holds. A primary's in-sync backups count only
    /// from a report that reflects the latest assignment it was sent (`current`): an older
    /// one may name a backup the broker removed since. Returns `inSync` for backups that
    /// just became in sync.
    public mutating func onReport(unit: String, holdings: [Holding], current: Bool = true) -> [TableChange] {
        guard let section = unitSections[unit], var state = sections[section] else { return [] }
        var changes: [TableChange] = []
        var next: [Int: Holding] = [:]
        var handedOver: [(partition: Int, sequence: UInt64)] = []
        for holding in holdings where state.slots.indices.contains(holding.partition) {
            next[holding.partition] = holding
            let partition = holding.partition
            state.slots[partition].lastSequence = max(state.slots[partition].lastSequence, holding.sequence)
            let slot = state.slots[partition]
            if slot.handover != nil, current, slot.primary == unit, holding.role == .primary, holding.epoch == slot.epoch {
                // The report answers the assignment that stopped the primary serving: it serves
                // nothing of the partition any more, and holds all it acknowledged.
                handedOver.append((partition, holding.sequence))
                continue
            }
            guard current, holding.role == .primary, slot.primary == unit, holding.epoch == slot.epoch else { continue }
            for backup in slot.backups where holding.inSyncBackups.contains(backup) && !slot.inSync.contains(backup) {
                state.slots[partition].inSync = slot.backups.filter { state.slots[partition].inSync.contains($0) || $0 == backup }
                changes.append(.inSync(section: section, partition: partition, unit: backup))
            }
        }
        state.holdings[unit] = next
        sections[section] = state
        for (partition, sequence) in handedOver {
            changes += completeHandover(section: section, partition: partition, sequence: sequence)
        }
        // A move's target just caught up: its next step need not wait for the tick.
        for change in changes {
            guard case .inSync(_, let partition, let unit) = change, sections[section]!.moves[partition]?.to == unit else { continue }
            changes += advance(section: section, partition: partition, now: lastRebalance)
        }
        return changes
    }

    /// A unit was declared dead (missed heartbeats) or said goodbye.
    public mutating func onUnitDead(unit: String, now: UInt64 = 0) -> [TableChange] {
        onUnitsDead([unit], now: now)
    }

    /// Units were declared dead together (one detection tick): all are removed before any
    /// partition is promoted, so none is promoted onto a unit that is dead too.
    public mutating func onUnitsDead(_ dead: [String], now: UInt64) -> [TableChange] {
        var changes: [TableChange] = []
        var touched: Set<String> = []
        var gone: [String: Set<String>] = [:]
        for unit in dead {
            guard let section = unitSections.removeValue(forKey: unit), var state = sections[section] else { continue }
            state.units.removeAll { $0 == unit }
            state.holdings[unit] = nil
            state.incarnations[unit] = nil
            state.hosts[unit] = nil
            // Before placement, the delay runs from the first join of a unit still alive.
            if !state.placed && state.units.isEmpty { state.firstJoin = nil }
            sections[section] = state
            changes.append(.unitLeft(section: section, unit: unit))
            touched.insert(section)
            gone[section, default: []].insert(unit)
        }
        for section in touched.sorted() {
            refreshDraining(section: section)
            changes += failOver(section: section, dead: gone[section]!, now: now)
            if sections[section]!.placed { changes += fillBackups(section: section) }
        }
        return changes
    }

    /// Removes dead units from every partition, promotes in-sync backups where a primary
    /// died, and orphans what has none.
    private mutating func failOver(section: String, dead: Set<String>, now: UInt64) -> [TableChange] {
        var state = sections[section]!
        var changes: [TableChange] = []
        var aborted: [Int] = []
        for partition in state.slots.indices {
            var slot = state.slots[partition]
            let wasInSync = slot.inSync
            var clearHandover = false
            if let move = state.moves[partition], dead.contains(move.from) || dead.contains(move.to) {
                state.moves[partition] = nil
                if let handover = slot.handover, dead.contains(handover.to), let primary = slot.primary, !dead.contains(primary) {
                    aborted.append(partition)
                    state.moves[partition] = move
                } else {
                    // A dead primary's handover ends in the failover below (under an epoch
                    // above the handover's).
                    clearHandover = true
                    changes.append(.moveCancelled(section: section, partition: partition, reason: "a unit of the move died"))
                }
            }
            for unit in slot.backups where dead.contains(unit) {
                changes.append(.backupRemoved(section: section, partition: partition, unit: unit))
            }
            slot.backups.removeAll { dead.contains($0) }
            slot.inSync.removeAll { dead.contains($0) }
            if let orphan = slot.orphan, var eligible = orphan.eligible {
                // Already waiting: the dead are still the ones that may come back.
                eligible.formUnion(wasInSync.filter { dead.contains($0) })
                slot.orphan?.eligible = eligible
            }
            if let primary = slot.primary, dead.contains(primary) {
                slot.primary = nil
                let counts = state.primaryCounts
                let candidates = slot.inSync.map { backup -> (String, UInt64) in
                    (backup, state.holdings[backup]?[partition].map { $0.epoch == slot.epoch ? $0.sequence : 0 } ?? 0)
                }
                // The highest sequence; ties to the unit leading fewest, then by name.
                if let best = candidates.max(by: { ($0.1, -(counts[$0.0] ?? 0), $1.0) < ($1.1, -(counts[$1.0] ?? 0), $0.0) }) {
                    slot.primary = best.0
                    slot.backups.removeAll { $0 == best.0 }
                    slot.inSync.removeAll { $0 == best.0 }
                    slot.epoch = nextEpoch(slot)
                    slot.load = nil
                    changes.append(.promoted(section: section, partition: partition, unit: best.0, epoch: slot.epoch, previous: primary, sequence: best.1))
                } else {
                    slot.load = nil
                    slot.orphan = Orphan(since: now, eligible: Set([primary] + wasInSync.filter { dead.contains($0) }), hadData: true)
                    changes.append(.orphaned(section: section, partition: partition, previous: primary))
                }
            }
            if clearHandover { slot.handover = nil }
            state.slots[partition] = slot
            sections[section] = state
        }
        for partition in aborted { changes += abortHandover(section: section, partition: partition) }
        return changes
    }

    /// Time passed: places sections whose placement delay ran out, and leases afresh the
    /// orphans whose grace ran out.
    public mutating func onTick(now: UInt64) -> [TableChange] {
        var changes: [TableChange] = []
        for name in sections.keys.sorted() {
            if !sections[name]!.placed {
                changes += placeIfDue(section: name, now: now)
                continue
            }
            let expired = sections[name]!.slots.indices.filter {
                guard let orphan = sections[name]!.slots[$0].orphan else { return false }
                return now >= orphan.since && now - orphan.since >= lossGraceMilliseconds
            }
            if !expired.isEmpty { changes += leaseAfresh(section: name, partitions: expired) }
        }
        if now >= lastRebalance + Self.rebalanceMilliseconds || now < lastRebalance {
            lastRebalance = now
            for name in sections.keys.sorted() { changes += rebalance(section: name, now: now) }
        }
        return changes
    }
}
