/// One partition on a backup: follows its primary's changes in order, and
/// never guesses (DESIGN.md section 5, the guide's Clone pattern).
///
/// Pure. The unit shell feeds it changes from the primary's PUB socket and
/// replies from the primary's ROUTER, and carries out the directives it returns:
/// - `requestSnapshot`: nothing usable is held; ask for the whole partition.
/// - `requestCatchUp(from:, dataEpoch:)`: ask for the changes from `from`; `dataEpoch` is
///   the label of the last change held, so the primary can tell whether what is held is a
///   prefix of its own history (it answers with a snapshot when it is not).
/// - `acknowledge(sequence)`: tell the primary how far this follower applied.
///
/// Every message names the epoch of the lease it was sent under (the carrier epoch); only
/// the current lease's is taken, so a deposed primary's late messages change nothing. The
/// changes themselves keep the epoch that wrote them (their label), which after a failover
/// may be an older one. Changes that arrive while a snapshot or catch-up is pending, or
/// ahead of a gap, wait in a buffer and are applied in order once they connect. Each
/// follower has its own `follow` id, which its requests and acknowledgements carry.
public struct ReplicaFollower: Sendable {
    public enum Phase: Sendable, Equatable {
        /// A snapshot was asked for at `requestedAt`; changes are buffered meanwhile.
        case awaitingSnapshot(requestedAt: UInt64)
        /// Data is held from an earlier lease; the changes after it were asked for at `requestedAt`.
        case catchingUp(requestedAt: UInt64)
        /// Applying changes in order.
        case following
    }

    public enum Directive: Sendable, Equatable {
        case requestSnapshot(partition: Int, epoch: UInt64, follow: UInt64)
        case requestCatchUp(partition: Int, epoch: UInt64, from: UInt64, dataEpoch: UInt64, follow: UInt64)
        case acknowledge(partition: Int, epoch: UInt64, sequence: UInt64, follow: UInt64)
    }

    public private(set) var store: PartitionStore
    public private(set) var phase: Phase
    /// The changes applied lately, for a catch-up served after this replica is promoted.
    public private(set) var log: ReplicationLog
    /// This follower's id (unique per unit and partition).
    public let follow: UInt64
    /// The primary said this follower is in sync (it waits for it and holds every released change).
    public private(set) var confirmed = false
    /// Changes received ahead of the next expected sequence, by sequence.
    private var ahead: [UInt64: Change] = [:]
    /// When a catch-up was last asked for while following (0: none outstanding).
    private var catchUpRequestedAt: UInt64 = 0
    /// Catch-ups asked for in a row without an answer; after a few, a snapshot instead.
    private var unansweredCatchUps = 0
    /// When this follower last told its primary who it is (while it is not confirmed in sync).
    private var announcedAt: UInt64 = 0
    /// How often an unconfirmed follower reminds its primary of itself: the primary may have
    /// missed the request that named it (it came before the assignment that named the backup).
    public static let announceMilliseconds: UInt64 = 2_000
    /// Changes refused because they came under another lease's epoch.
    public private(set) var staleRefused: UInt64 = 0
    /// Snapshot chunks being received.
    private var incoming: (sequence: UInt64, lastEpoch: UInt64, entries: EntryTable)?

    /// How long to wait for a snapshot or catch-up before asking again.
    public static let retryMilliseconds: UInt64 = 1_000
    /// How many changes may wait ahead of a gap before the follower gives up and asks for a snapshot.
    public static let maximumAhead = 10_000

    public var partition: Int { store.partition }
    public var epoch: UInt64 { store.epoch }
    public var applied: UInt64 { store.sequence }
    public var isFollowing: Bool { phase == .following }

    /// Starts following a partition under a lease of `epoch`: it needs a snapshot first.
    public init(partition: Int, epoch: UInt64, follow: UInt64, now: UInt64, logCapacity: Int = 256) {
        store = PartitionStore(partition: partition, epoch: epoch)
        phase = .awaitingSnapshot(requestedAt: now)
        log = ReplicationLog(capacity: logCapacity)
        self.follow = follow
    }

    /// Starts following from data already held (a primary demoted, or a backup whose
    /// lease changed): it asks for the changes after what it holds, and the primary
    /// answers with them when they continue its history, or with a snapshot.
    public init(resyncing store: PartitionStore, log: ReplicationLog, epoch: UInt64, follow: UInt64, now: UInt64) {
        self.store = store
        self.store.epoch = epoch
        self.log = log
        self.follow = follow
        phase = store.sequence > 0 ? .catchingUp(requestedAt: now) : .awaitingSnapshot(requestedAt: now)
    }

    /// The directive to send right after `init`.
    public var initialDirectives: [Directive] {
        switch phase {
        case .catchingUp: return [catchUp(from: applied + 1)]
        default: return [.requestSnapshot(partition: partition, epoch: epoch, follow: follow)]
        }
    }

    /// What tells the primary which follower this is (after the unit registered again):
    /// a catch-up from the next sequence once following, else the pending request again.
    public var announcement: [Directive] {
        phase == .following ? [catchUp(from: applied + 1)] : initialDirectives
    }

    private func catchUp(from: UInt64) -> Directive {
        .requestCatchUp(partition: partition, epoch: epoch, from: from, dataEpoch: store.lastEpoch, follow: follow)
    }

    private func acknowledgement() -> Directive {
        .acknowledge(partition: partition, epoch: epoch, sequence: applied, follow: follow)
    }

    // MARK: - Changes

    /// Changes from the primary, all of this partition: from PUB (`carrier` is then each
    /// change's own epoch) or a catch-up or resend (`carrier` is the message's).
    /// `answered` is set for the reply to a catch-up request.
    public mutating func onChanges(_ changes: [Change], carrier: UInt64, answered: Bool = false, now: UInt64) -> [Directive] {
        guard carrier == epoch else {
            // An older lease: a deposed primary (fencing). A newer one: the broker's ASSIGN brings it.
            if carrier < epoch { staleRefused += UInt64(changes.count) }
            return []
        }
        for change in changes where change.partition == partition && change.sequence > applied {
            ahead[change.sequence] = change
        }
        switch phase {
        case .awaitingSnapshot:
            return overflowing(now: now)
        case .catchingUp:
            guard answered else { return overflowing(now: now) }
            // The primary continued our history: apply what connects and follow.
            drainAhead(now: now)
            phase = .following
            unansweredCatchUps = 0
            announcedAt = now
            var directives: [Directive] = [acknowledgement()]
            if !ahead.isEmpty {
                catchUpRequestedAt = max(now, 1)
                directives.insert(catchUp(from: applied + 1), at: 0)
            }
            return directives
        case .following:
            let before = applied
            drainAhead(now: now)
            if answered || ahead.isEmpty { catchUpRequestedAt = 0 }
            if answered { unansweredCatchUps = 0 }
            var directives: [Directive] = []
            if !ahead.isEmpty {
                if ahead.count > Self.maximumAhead { return restartWithSnapshot(now: now) }
                if catchUpRequestedAt == 0 || now - min(now, catchUpRequestedAt) >= Self.retryMilliseconds {
                    catchUpRequestedAt = max(now, 1)
                    directives.append(catchUp(from: applied + 1))
                }
            }
            // An answer is always acknowledged, even with nothing new: it may answer this
            // follower's announcement, and the primary counts it only from its acknowledgement.
            if applied > before || answered { directives.append(acknowledgement()) }
            return directives
        }
    }

    private mutating func overflowing(now: UInt64) -> [Directive] {
        ahead.count > Self.maximumAhead ? restartWithSnapshot(now: now) : []
    }

    private mutating func drainAhead(now: UInt64) {
        while let next = ahead.removeValue(forKey: applied + 1) {
            store.apply(next)
            log.append(next, at: now)
        }
        // Anything at or below what is applied is a duplicate now.
        if !ahead.isEmpty { ahead = ahead.filter { $0.key > applied } }
    }

    private mutating func restartWithSnapshot(now: UInt64) -> [Directive] {
        phase = .awaitingSnapshot(requestedAt: now)
        incoming = nil
        catchUpRequestedAt = 0
        ahead = ahead.filter { $0.key > applied }
        return [.requestSnapshot(partition: partition, epoch: epoch, follow: follow)]
    }

    // MARK: - Snapshots

    /// A part of a snapshot taken at `sequence` under the lease `epoch`; `lastEpoch` labels its
    /// last change, and the last part carries the partition's request table. Taken while a
    /// snapshot is awaited, and also when one answers a catch-up (the primary's log did not
    /// reach back, or what is held is not a prefix of its history).
    public mutating func onSnapshotChunk(epoch chunkEpoch: UInt64, sequence: UInt64, lastEpoch: UInt64, entries: [([UInt8], Entry)],
                                         requests: RequestTable?, first: Bool, last: Bool, now: UInt64) -> [Directive] {
        guard chunkEpoch == epoch else { return [] }
        switch phase {
        case .awaitingSnapshot, .catchingUp: break
        case .following:
            // Only as the answer to an outstanding catch-up, and only forward.
            guard catchUpRequestedAt != 0 || incoming != nil, sequence > applied else { return [] }
        }
        if first { incoming = (sequence, lastEpoch, [:]) }
        guard incoming?.sequence == sequence else { return [] }
        if case .awaitingSnapshot = phase {
            // The snapshot is on its way: the retry timer runs from its latest chunk.
            phase = .awaitingSnapshot(requestedAt: now)
        }
        // In place: a copy taken out and put back would copy the whole table per chunk.
        for (key, entry) in entries { incoming!.entries.update(key, entry.value, version: entry.version) }
        guard last else { return [] }
        let complete = incoming!
        incoming = nil
        store.replace(entries: complete.entries, sequence: complete.sequence, epoch: epoch, lastEpoch: complete.lastEpoch,
                      requests: requests ?? RequestTable())
        log.reset()
        phase = .following
        unansweredCatchUps = 0
        catchUpRequestedAt = 0
        announcedAt = now
        drainAhead(now: now)
        var directives: [Directive] = [acknowledgement()]
        // Changes buffered beyond a gap after the snapshot: ask for what is missing.
        if !ahead.isEmpty {
            catchUpRequestedAt = max(now, 1)
            directives.insert(catchUp(from: applied + 1), at: 0)
        }
        return directives
    }

    /// The primary confirmed that this follower is in sync (it waits for it).
    public mutating func onInSync(epoch confirmedEpoch: UInt64, follow confirmedFollow: UInt64) {
        if confirmedEpoch == epoch, confirmedFollow == follow, phase == .following { confirmed = true }
    }

    /// The unit registers again: the broker may have dropped this backup meanwhile, so only
    /// the primary's next confirmation counts.
    public mutating func forgetConfirmation() {
        confirmed = false
    }

    // MARK: - Time

    /// Repeats a snapshot or catch-up request that got no answer.
    public mutating func onTick(now: UInt64) -> [Directive] {
        switch phase {
        case .awaitingSnapshot(let requestedAt):
            guard now - min(now, requestedAt) >= Self.retryMilliseconds else { return [] }
            phase = .awaitingSnapshot(requestedAt: now)
            incoming = nil
            return [.requestSnapshot(partition: partition, epoch: epoch, follow: follow)]
        case .catchingUp(let requestedAt):
            guard now - min(now, requestedAt) >= Self.retryMilliseconds else { return [] }
            unansweredCatchUps += 1
            if unansweredCatchUps >= 3 { return restartWithSnapshot(now: now) }
            phase = .catchingUp(requestedAt: now)
            return [catchUp(from: applied + 1)]
        case .following:
            if ahead.isEmpty, incoming == nil, !confirmed, now - min(now, announcedAt) >= Self.announceMilliseconds {
                announcedAt = now
                return [catchUp(from: applied + 1)]
            }
            guard !ahead.isEmpty || incoming != nil, now - min(now, catchUpRequestedAt) >= Self.retryMilliseconds else { return [] }
            incoming = nil
            unansweredCatchUps += 1
            if unansweredCatchUps >= 3 { return restartWithSnapshot(now: now) }
            catchUpRequestedAt = max(now, 1)
            return [catchUp(from: applied + 1)]
        }
    }

    /// The partition's data, for promotion to primary.
    public var data: PartitionStore { store }
}
