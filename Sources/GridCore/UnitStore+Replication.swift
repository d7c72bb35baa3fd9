/// Replication on both sides: acknowledgements and follower requests reaching a
/// primary, changes and snapshots reaching a backup, and the timers of both.
extension UnitStore {
    // MARK: - Primary side

    /// A backup acknowledged `sequence` of a partition led here, under follower `follow`.
    /// Returns the replies released, and a confirmation when the backup just became in sync.
    public mutating func onAcknowledge(backup: String, partition: Int, epoch: UInt64, sequence: UInt64, follow: UInt64, now: UInt64) -> [Directive] {
        guard led[partition]?.store.epoch == epoch, led[partition]?.loading == false else { return [] }
        let result = led[partition]!.acks.onAcknowledge(backup: backup, follow: follow, sequence: sequence, now: now)
        var directives = released(result.released, now: now)
        if result.nowInSync {
            directives.append(.confirmInSync(backup: backup, partition: partition, epoch: epoch, follow: follow))
        }
        return directives
    }

    /// A backup asked for a snapshot or a catch-up under follower `follow`. A request that
    /// overtook the assignment naming its backup (they travel on different sockets) is kept
    /// until that assignment arrives. A backup already in sync under that follower is told so
    /// again (its confirmation may have been lost).
    public mutating func onFollowerRequest(backup: String, partition: Int, epoch: UInt64, follow: UInt64, now: UInt64) -> [Directive] {
        guard led[partition]?.store.epoch == epoch, led[partition]?.acks.backups[backup] != nil else {
            if announced.count > 10_000 { announced.removeAll() }
            if announced[partition]?.epoch != epoch { announced[partition] = (epoch, [:]) }
            announced[partition]!.follows[backup] = follow
            return []
        }
        led[partition]!.acks.onFollowerRequest(backup: backup, follow: follow, now: now)
        let state = led[partition]!.acks.backups[backup]
        guard state?.standing == .inSync, state?.follow == follow else { return [] }
        return [.confirmInSync(backup: backup, partition: partition, epoch: epoch, follow: follow)]
    }

    /// Applies the follower requests that arrived before the assignment that made `partition` led here.
    mutating func applyAnnouncements(_ partition: Int, now: UInt64) {
        guard let pending = announced.removeValue(forKey: partition), led[partition]?.store.epoch == pending.epoch else { return }
        for (backup, follow) in pending.follows where led[partition]!.acks.backups[backup] != nil {
            led[partition]!.acks.onFollowerRequest(backup: backup, follow: follow, now: now)
        }
    }

    // MARK: - Backup side

    /// Changes from a primary's PUB socket (`carrier` nil: each change's own epoch) or a
    /// catch-up reply or resend (`carrier`: the message's epoch), all of one partition.
    public mutating func onChanges(_ changes: [Change], carrier: UInt64? = nil, answered: Bool = false, now: UInt64) -> [Directive] {
        guard let first = changes.first else { return [] }
        let partition = first.partition
        let epoch = carrier ?? first.epoch
        guard followed[partition] != nil else {
            if epoch < (assignments[partition]?.lease.epoch ?? 0) { fencedRequests += 1 }
            return []
        }
        let before = followed[partition]!.follower.staleRefused
        let directives = followed[partition]!.follower.onChanges(changes, carrier: epoch, answered: answered, now: now)
        fencedRequests += followed[partition]!.follower.staleRefused - before
        let primary = followed[partition]!.primary
        return directives.map { .toPrimary(primary: primary, $0) }
    }

    /// A catch-up reply with no changes (the follower was up to date): it follows on.
    public mutating func onEmptyCatchUp(partition: Int, carrier: UInt64, now: UInt64) -> [Directive] {
        guard followed[partition] != nil else { return [] }
        let directives = followed[partition]!.follower.onChanges([], carrier: carrier, answered: true, now: now)
        let primary = followed[partition]!.primary
        return directives.map { .toPrimary(primary: primary, $0) }
    }

    /// Part of a snapshot for a partition this unit backs up.
    public mutating func onSnapshotChunk(partition: Int, epoch: UInt64, sequence: UInt64, lastEpoch: UInt64, entries: [([UInt8], Entry)],
                                         requests: RequestTable?, first: Bool, last: Bool, now: UInt64) -> [Directive] {
        guard followed[partition] != nil else { return [] }
        let directives = followed[partition]!.follower.onSnapshotChunk(
            epoch: epoch, sequence: sequence, lastEpoch: lastEpoch, entries: entries, requests: requests, first: first, last: last, now: now)
        let primary = followed[partition]!.primary
        return directives.map { .toPrimary(primary: primary, $0) }
    }

    /// The primary confirmed a follower of this unit in sync.
    public mutating func onInSync(partition: Int, epoch: UInt64, follow: UInt64) {
        followed[partition]?.follower.onInSync(epoch: epoch, follow: follow)
    }

    // MARK: - Time

    /// Retries for followers, resends for backups that stalled.
    public mutating func onTick(now: UInt64, resendAfterMilliseconds: UInt64) -> [Directive] {
        var directives: [Directive] = []
        for partition in followed.keys.sorted() {
            let retries = followed[partition]!.follower.onTick(now: now)
            let primary = followed[partition]!.primary
            directives += retries.map { .toPrimary(primary: primary, $0) }
        }
        for partition in led.keys.sorted() where !led[partition]!.loading {
            let newest = led[partition]!.store.sequence
            let log = led[partition]!.log
            let stalled = led[partition]!.acks.stalled(newest: newest, now: now, quietMilliseconds: resendAfterMilliseconds) { log.time(of: $0) }
            for (backup, from) in stalled {
                // Beyond the log, the backup's own gap detection asks for a snapshot.
                if let changes = led[partition]!.replay(from: from), !changes.isEmpty {
                    directives.append(.resend(backup: backup, partition: partition, changes: changes))
                }
            }
        }
        return directives
    }
}
