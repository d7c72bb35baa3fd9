/// One partition on a backup: follows its primary's changes in order, and
/// never guesses (DESIGN.md section 5, the guide's Clone pattern).
///
/// Pure. The unit shell feeds it changes from the primary's PUB socket and
/// replies from the primary's ROUTER, and carries out the directives it returns:
/// - `requestSnapshot`: a new lease or an unrecoverable gap; ask for the whole partition.
/// - `requestCatchUp(from:)`: a gap; ask for the changes from that sequence.
/// - `acknowledge(sequence)`: tell the primary how far this backup applied (sync mode waits for it).
///
/// Changes from an older epoch are refused and counted (fencing); changes that
/// arrive while a snapshot is pending, or ahead of a gap, wait in a buffer and
/// are applied in order once they connect.
public struct ReplicaFollower: Sendable {
    public enum Phase: Sendable, Equatable {
        /// A snapshot was asked for at `requestedAt`; changes are buffered meanwhile.
        case awaitingSnapshot(requestedAt: UInt64)
        /// Applying changes in order.
        case following
    }

    public enum Directive: Sendable, Equatable {
        case requestSnapshot(partition: Int, epoch: UInt64)
        case requestCatchUp(partition: Int, epoch: UInt64, from: UInt64)
        case acknowledge(partition: Int, epoch: UInt64, sequence: UInt64)
    }

    public private(set) var store: PartitionStore
    public private(set) var phase: Phase
    /// Changes received ahead of the next expected sequence, by sequence.
    private var ahead: [UInt64: Change] = [:]
    /// When a catch-up was last asked for (0: none outstanding).
    private var catchUpRequestedAt: UInt64 = 0
    /// Changes refused because their epoch was older than the lease's.
    public private(set) var staleRefused: UInt64 = 0
    /// Snapshot chunks being received: (sequence, entries so far).
    private var incoming: (sequence: UInt64, entries: EntryTable)?

    /// How long to wait for a snapshot or catch-up before asking again.
    public static let retryMilliseconds: UInt64 = 1_000
    /// How many changes may wait ahead of a gap before the follower gives up and asks for a snapshot.
    public static let maximumAhead = 10_000

    public var partition: Int { store.partition }
    public var epoch: UInt64 { store.epoch }
    public var applied: UInt64 { store.sequence }
    public var isFollowing: Bool { phase == .following }

    /// Starts following a partition under a lease of `epoch`: it needs a snapshot first.
    public init(partition: Int, epoch: UInt64, now: UInt64) {
        store = PartitionStore(partition: partition, epoch: epoch)
        phase = .awaitingSnapshot(requestedAt: now)
    }

    /// The directive to send right after `init`.
    public var initialDirectives: [Directive] { [.requestSnapshot(partition: partition, epoch: epoch)] }

    /// Starts following from data already held (a primary demoted, or a backup whose
    /// lease epoch changed): the history may have diverged, so a snapshot is needed.
    public init(resyncing store: PartitionStore, epoch: UInt64, now: UInt64) {
        self.store = store
        self.store.epoch = epoch
        phase = .awaitingSnapshot(requestedAt: now)
    }

    // MARK: - Changes

    /// A change from the primary (PUB, or a catch-up reply).
    public mutating func onChange(_ change: Change, now: UInt64) -> [Directive] {
        guard change.partition == partition else { return [] }
        if change.epoch < epoch {
            staleRefused += 1
            return []
        }
        // A newer epoch: our lease is behind; the broker's ASSIGN will bring a snapshot.
        guard change.epoch == epoch else { return [] }
        guard change.sequence > applied else { return [] }  // a duplicate
        if case .awaitingSnapshot = phase {
            buffer(change)
            return []
        }
        if change.sequence == applied + 1 {
            store.apply(change)
            drainAhead()
            if ahead.isEmpty { catchUpRequestedAt = 0 }
            return [.acknowledge(partition: partition, epoch: epoch, sequence: applied)]
        }
        buffer(change)
        if ahead.count > Self.maximumAhead {
            return restartWithSnapshot(now: now)
        }
        if catchUpRequestedAt == 0 || now - min(now, catchUpRequestedAt) >= Self.retryMilliseconds {
            catchUpRequestedAt = max(now, 1)
            return [.requestCatchUp(partition: partition, epoch: epoch, from: applied + 1)]
        }
        return []
    }

    /// Several changes at once (a catch-up reply or a drained batch); one acknowledgement at the end.
    public mutating func onChanges(_ changes: [Change], now: UInt64) -> [Directive] {
        var directives: [Directive] = []
        var acknowledged: Directive?
        for change in changes {
            for directive in onChange(change, now: now) {
                if case .acknowledge = directive { acknowledged = directive } else { directives.append(directive) }
            }
        }
        if let acknowledged { directives.append(acknowledged) }
        return directives
    }

    private mutating func buffer(_ change: Change) {
        ahead[change.sequence] = change
    }

    private mutating func drainAhead() {
        while let next = ahead.removeValue(forKey: applied + 1) {
            store.apply(next)
        }
        // Anything at or below what is applied is a duplicate now.
        if !ahead.isEmpty { ahead = ahead.filter { $0.key > applied } }
    }

    private mutating func restartWithSnapshot(now: UInt64) -> [Directive] {
        phase = .awaitingSnapshot(requestedAt: now)
        incoming = nil
        catchUpRequestedAt = 0
        return [.requestSnapshot(partition: partition, epoch: epoch)]
    }

    // MARK: - Snapshots

    /// A part of a snapshot taken at `sequence` under `epoch`; `last` marks the final part.
    public mutating func onSnapshotChunk(epoch chunkEpoch: UInt64, sequence: UInt64, entries: [([UInt8], Entry)], first: Bool, last: Bool, now: UInt64) -> [Directive] {
        guard chunkEpoch == epoch, case .awaitingSnapshot = phase else { return [] }
        if first { incoming = (sequence, [:]) }
        guard incoming?.sequence == sequence else { return [] }
        // The snapshot is on its way: the retry timer runs from its latest chunk.
        phase = .awaitingSnapshot(requestedAt: now)
        // In place: a copy taken out and put back would copy the whole table per chunk.
        for (key, entry) in entries { incoming!.entries.update(key, entry.value, version: entry.version) }
        guard last else { return [] }
        let complete = incoming!.entries
        incoming = nil
        store.replace(entries: complete, sequence: sequence, epoch: epoch)
        phase = .following
        drainAhead()
        catchUpRequestedAt = 0
        var directives: [Directive] = [.acknowledge(partition: partition, epoch: epoch, sequence: applied)]
        // Changes buffered beyond a gap after the snapshot: ask for what is missing.
        if !ahead.isEmpty {
            catchUpRequestedAt = max(now, 1)
            directives.insert(.requestCatchUp(partition: partition, epoch: epoch, from: applied + 1), at: 0)
        }
        return directives
    }

    // MARK: - Time

    /// Repeats a snapshot or catch-up request that got no answer.
    public mutating func onTick(now: UInt64) -> [Directive] {
        switch phase {
        case .awaitingSnapshot(let requestedAt):
            guard now - min(now, requestedAt) >= Self.retryMilliseconds else { return [] }
            phase = .awaitingSnapshot(requestedAt: now)
            incoming = nil
            return [.requestSnapshot(partition: partition, epoch: epoch)]
        case .following:
            guard !ahead.isEmpty, now - min(now, catchUpRequestedAt) >= Self.retryMilliseconds else { return [] }
            catchUpRequestedAt = max(now, 1)
            return [.requestCatchUp(partition: partition, epoch: epoch, from: applied + 1)]
        }
    }

    /// The partition's data, for promotion to primary.
    public var data: PartitionStore { store }
}
