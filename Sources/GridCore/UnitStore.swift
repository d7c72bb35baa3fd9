/// Everything one unit holds: the partitions it leads (with their replication
/// log and backup acknowledgements), the ones it backs up (followers), and its lease.
///
/// Pure: the unit shell feeds it the broker's assignments and lease renewals, routed
/// requests, changes from primaries and acknowledgements from backups, with the time;
/// it returns what to send. Held replies are opaque tokens the shell maps to the reply
/// frames it keeps.
///
/// The lease (DESIGN.md section 5, "fencing"): a unit serves requests, releases held
/// replies and lets workflows send steps only while `now < leaseExpiry`. The broker
/// renews it by echoing the stamp of the unit's latest REPORT, and declares the unit
/// dead (and promotes another) only after a longer silence than the lease, so a paused
/// or cut-off primary stops before its successor starts.
public struct UnitStore: Sendable {
    /// A partition this unit leads.
    public struct Led: Sendable {
        public var store: PartitionStore
        public var log: ReplicationLog
        public var acks: AckTracker
        public var backups: [String]
        /// Waiting for its content from the database: nothing is served until it arrives.
        public var loading: Bool
        /// Held from before the unit registered again: a claim, served only once an
        /// assignment of the current registration confirms it (a lease renewed by a broker
        /// that has not placed it yet must not validate a claim another broker deposed).
        public var suspended = false
        /// The sequence the partition continues at or above once loaded.
        public var loadFloor: UInt64
        /// The commit index last published.
        public var publishedCommit: UInt64 = 0

        /// The changes from `from` to the partition's newest, or nil when the log does not
        /// hold them all (it starts empty after a load). Nil means a snapshot.
        public func replay(from: UInt64) -> [Change]? {
            if from > store.sequence { return [] }
            guard log.count > 0, log.newest == store.sequence else { return nil }
            return log.changes(from: from)
        }

        /// What answers a catch-up from `from` by a replica whose last change (at `from - 1`)
        /// is labelled `dataEpoch`: the changes when that replica's data is a prefix of this
        /// history and the log reaches back, else a snapshot.
        public func catchUp(from: UInt64, dataEpoch: UInt64) -> [Change]? {
            guard from >= 1, store.contains(epoch: dataEpoch, sequence: from - 1) else { return nil }
            return replay(from: from)
        }
    }

    /// A partition this unit backs up, and the unit it follows.
    public struct Followed: Sendable {
        public var follower: ReplicaFollower
        public var primary: String
        /// The unit registered again since this follower last spoke to its primary, which may
        /// have dropped it meanwhile: the next assignment that keeps it makes it ask again, so
        /// the primary learns which follower acknowledges.
        public var mustAnnounce = false
    }

    /// What the shell must do.
    public enum Directive: Sendable, Equatable {
        /// Send the held reply `token` now.
        case release(token: Int)
        /// The held reply `token` will never be sent as it is (the partition is not led here any
        /// more, or the lease is gone): answer 421 instead, so the request is routed again and,
        /// by its request id, answered once.
        case abandon(token: Int)
        /// Send to `primary`'s replication ROUTER (snapshot, catch-up or acknowledgement).
        case toPrimary(primary: String, ReplicaFollower.Directive)
        /// Send these changes straight to `backup` (it missed them on PUB).
        case resend(backup: String, partition: Int, changes: [Change])
        /// Tell `backup` its follower `follow` is in sync (what it reports after a broker restart).
        case confirmInSync(backup: String, partition: Int, epoch: UInt64, follow: UInt64)
        /// Load `partition` from the database (led now, nothing to continue from).
        case load(partition: Int)
    }

    // Primaries and backups live in two dictionaries and are changed in place
    // (`led[p]!.store.put(...)`): taking a copy out of a dictionary and writing
    // it back would copy the whole partition on every write.
    public internal(set) var led: [Int: Led] = [:]
    public internal(set) var followed: [Int: Followed] = [:]
    public internal(set) var assignments: [Int: Assignment] = [:]
    public let logCapacity: Int
    var nextToken = 1
    var nextFollow: UInt64 = 1
    /// Changes or requests refused for an old epoch (fencing), counted for status.
    public internal(set) var fencedRequests: UInt64 = 0
    /// Until when (monotonic ms) the unit may serve; 0: no lease.
    public internal(set) var leaseExpiry: UInt64 = 0
    /// Replies released while the lease had lapsed: sent once it is renewed.
    var releasedWithoutLease: [Int] = []
    /// Follower requests that came before the assignment naming their backup, by partition.
    var announced: [Int: (epoch: UInt64, follows: [String: UInt64])] = [:]

    /// - Parameter incarnation: this process's random id; follower ids start from it, so
    ///   no follower of a later process of the same unit reuses an id of an earlier one.
    public init(logCapacity: Int = 256, incarnation: UInt64 = 1) {
        self.logCapacity = logCapacity
        nextFollow = incarnation
    }

    public func leaseValid(now: UInt64) -> Bool { now < leaseExpiry }

    // MARK: - Lease

    /// The broker renewed the lease until `expiry` (the echoed REPORT stamp plus the lease).
    public mutating func renewLease(until expiry: UInt64, now: UInt64) -> [Directive] {
        leaseExpiry = max(leaseExpiry, expiry)
        guard leaseValid(now: now), !releasedWithoutLease.isEmpty else { return [] }
        defer { releasedWithoutLease.removeAll() }
        return releasedWithoutLease.map { .release(token: $0) }
    }

    /// The unit registers again (the broker did not know it, or went silent): it holds no
    /// lease until the broker grants one, no held reply is sent as it is, and no backup
    /// claims to be in sync until its primary says so again.
    public mutating func onRegistering() -> [Directive] {
        leaseExpiry = 0
        var directives = releasedWithoutLease.map { Directive.abandon(token: $0) }
        releasedWithoutLease.removeAll()
        for partition in led.keys.sorted() {
            directives += led[partition]!.acks.abandon().map { .abandon(token: $0) }
            led[partition]!.suspended = true
        }
        for partition in followed.keys {
            followed[partition]!.follower.forgetConfirmation()
            followed[partition]!.mustAnnounce = true
        }
        return directives
    }

    /// Tokens released by the backups: sent now under a valid lease, else kept.
    mutating func released(_ tokens: [Int], now: UInt64) -> [Directive] {
        guard !tokens.isEmpty else { return [] }
        if leaseValid(now: now) { return tokens.map { .release(token: $0) } }
        releasedWithoutLease += tokens
        return []
    }

    // MARK: - Assignments

    /// Applies the broker's latest assignment: promotions, demotions, new and dropped partitions.
    public mutating func onAssign(_ assigned: [Assignment], now: UInt64) -> [Directive] {
        var next: [Int: Assignment] = [:]
        for assignment in assigned { next[assignment.lease.partition] = assignment }
        var directives: [Directive] = []
        for partition in led.keys.sorted() where next[partition] == nil {
            directives += led[partition]!.acks.abandon().map { .abandon(token: $0) }
            led[partition] = nil
        }
        for partition in followed.keys.sorted() where next[partition] == nil {
            followed[partition] = nil
        }
        for partition in next.keys.sorted() {
            let assignment = next[partition]!
            switch assignment.lease.role {
            case .primary:
                directives += lead(assignment, now: now)
                applyAnnouncements(partition, now: now)
            case .backup:
                directives += follow(assignment, now: now)
            }
        }
        assignments = next
        return directives
    }

    private mutating func lead(_ assignment: Assignment, now: UInt64) -> [Directive] {
        let partition = assignment.lease.partition
        let epoch = assignment.lease.epoch
        if led[partition] != nil, assignment.load == nil || led[partition]!.store.epoch == epoch {
            // Still led (the same epoch, or granted again to the holder after a broker restart).
            // A handover stops serving: what waited for the backups is answered 421 (routed
            // again to the new primary, with its request id) and the partition is kept as is.
            var directives: [Directive] = []
            if assignment.handover != nil, !led[partition]!.suspended {
                directives += led[partition]!.acks.abandon().map { .abandon(token: $0) }
            }
            led[partition]!.store.epoch = epoch
            led[partition]!.suspended = assignment.handover != nil
            led[partition]!.backups = assignment.backups
            let tokens = led[partition]!.acks.setBackups(assignment.members, now: now)
            return directives + (assignment.handover == nil ? released(tokens, now: now) : tokens.map { .abandon(token: $0) })
        }
        var directives: [Directive] = []
        if let old = led.removeValue(forKey: partition) {
            directives += old.acks.abandonedTokens.map { .abandon(token: $0) }
        }
        let previous = followed.removeValue(forKey: partition)
        if let floor = assignment.load {
            // No replica to continue from: the database's copy, once loaded.
            var entry = Led(store: PartitionStore(partition: partition, epoch: epoch), log: ReplicationLog(capacity: logCapacity),
                            acks: AckTracker(), backups: assignment.backups, loading: true, loadFloor: floor)
            _ = entry.acks.setBackups(assignment.members, now: now)
            led[partition] = entry
            directives.append(.load(partition: partition))
            return directives
        }
        // Promoted: the followed data becomes the partition and sequences continue. Backups
        // the broker still counts as in sync are waited for from the first write on, and until
        // they acknowledge, nothing new counts as committed.
        var store = previous?.follower.data ?? PartitionStore(partition: partition, epoch: epoch)
        store.epoch = epoch
        let log = previous?.follower.log ?? ReplicationLog(capacity: logCapacity)
        let carried = !assignment.inSync.isEmpty
        var acks = AckTracker(newest: store.sequence, committed: carried ? 0 : store.sequence)
        _ = acks.setBackups(assignment.members, now: now)
        led[partition] = Led(store: store, log: log, acks: acks, backups: assignment.backups, loading: false, loadFloor: 0)
        return directives
    }

    private mutating func follow(_ assignment: Assignment, now: UInt64) -> [Directive] {
        let partition = assignment.lease.partition
        let epoch = assignment.lease.epoch
        if let current = followed[partition], current.follower.epoch == epoch, current.primary == assignment.primary {
            guard current.mustAnnounce else { return [] }
            followed[partition]!.mustAnnounce = false
            return current.follower.announcement.map { .toPrimary(primary: assignment.primary, $0) }
        }
        var directives: [Directive] = []
        let follower: ReplicaFollower
        let id = nextFollow
        nextFollow &+= 1
        if let demoted = led.removeValue(forKey: partition) {
            // Demoted (fenced): what it holds may go beyond the new primary's history; the new
            // primary answers the catch-up with a snapshot then.
            directives += demoted.acks.abandonedTokens.map { .abandon(token: $0) }
            follower = demoted.loading
                ? ReplicaFollower(partition: partition, epoch: epoch, follow: id, now: now, logCapacity: logCapacity)
                : ReplicaFollower(resyncing: demoted.store, log: demoted.log, epoch: epoch, follow: id, now: now)
        } else if let current = followed.removeValue(forKey: partition) {
            follower = ReplicaFollower(resyncing: current.follower.data, log: current.follower.log, epoch: epoch, follow: id, now: now)
        } else {
            follower = ReplicaFollower(partition: partition, epoch: epoch, follow: id, now: now, logCapacity: logCapacity)
        }
        followed[partition] = Followed(follower: follower, primary: assignment.primary)
        directives += follower.initialDirectives.map { .toPrimary(primary: assignment.primary, $0) }
        return directives
    }

    /// A partition led here that waited for the database receives its content (or nothing,
    /// without a database). It continues at `sequence` (the load's decision) or the lease's
    /// floor, whichever is higher. False when the partition does not wait for a load.
    public mutating func installLoaded(partition: Int, entries: EntryTable, sequence: UInt64, now: UInt64) -> (installed: Bool, directives: [Directive]) {
        guard let current = led[partition], current.loading else { return (false, []) }
        let start = max(sequence, current.loadFloor)
        var acks = AckTracker(newest: start)
        let tokens = acks.setBackups(assignments[partition]?.members ?? [], now: now)
        // The loaded state is labelled with this lease's epoch: a replica that later holds it
        // (a snapshot of it) is then recognised as holding a prefix of this history.
        let loaded = PartitionStore(partition: partition, epoch: current.store.epoch, sequence: start, entries: entries,
                                    lastEpoch: start > 0 ? current.store.epoch : nil)
        // A claim suspended by registering again stays so until an assignment confirms it.
        led[partition] = Led(store: loaded, log: ReplicationLog(capacity: logCapacity), acks: acks, backups: current.backups, loading: false,
                             suspended: current.suspended, loadFloor: current.loadFloor)
        return (true, released(tokens, now: now))
    }

    /// Partitions led here that wait for the database.
    public var loadingPartitions: Set<Int> { Set(led.filter { $0.value.loading }.keys) }

    /// A partition this unit leads (for snapshot and catch-up service).
    public func led(_ partition: Int) -> Led? { led[partition] }

    /// Whether this unit leads `route.partition` under exactly `route.epoch`.
    public func leads(_ route: Route) -> Bool { led[route.partition]?.store.epoch == route.epoch }

    // MARK: - Reports

    /// What this unit holds, for READY and REPORT.
    public var holdings: [Holding] {
        var result: [Holding] = []
        result.reserveCapacity(led.count + followed.count)
        for (partition, led) in led where !led.loading {
            result.append(Holding(partition: partition, role: .primary, epoch: led.store.epoch, sequence: led.store.sequence, inSync: true,
                                  inSyncBackups: led.acks.inSyncNames))
        }
        for (partition, followed) in followed {
            let follower = followed.follower
            result.append(Holding(partition: partition, role: .backup, epoch: follower.epoch, sequence: follower.applied, inSync: follower.confirmed))
        }
        return result.sorted { $0.partition < $1.partition }
    }

    /// The backups `partition`'s primary counts as in sync, as bits over its assignment's backup list.
    public func inSyncMask(of partition: Int) -> UInt8 { led[partition]?.acks.inSyncMask ?? 0 }

    /// Replication lag of one led partition: sequences the slowest backup is behind,
    /// and the age of the oldest change some backup has not acknowledged.
    public func lag(of partition: Int, now: UInt64) -> (behind: UInt64, oldestUnacknowledgedMilliseconds: UInt64)? {
        guard let led = led[partition], !led.backups.isEmpty else { return nil }
        let newest = led.store.sequence
        let behind = led.acks.behind(newest: newest)
        guard let oldest = led.acks.oldestUnacknowledged(newest: newest) else { return (behind, 0) }
        // A change that already left the log is older than the oldest one kept.
        let appliedAt = led.log.time(of: oldest) ?? led.log.time(of: led.log.oldest) ?? now
        return (behind, now - min(now, appliedAt))
    }

    /// The commit index of every led partition that moved since it was last published
    /// (`all`: of every led partition), as (partition, epoch, committed): what the mirror
    /// writes up to. Nothing while the lease has lapsed: a deposed primary announces nothing.
    public mutating func commitsToPublish(all: Bool, now: UInt64) -> [(partition: Int, epoch: UInt64, committed: UInt64)] {
        guard leaseValid(now: now) else { return [] }
        var result: [(Int, UInt64, UInt64)] = []
        // Called every loop turn: each entry is read and marked in place. (Iterating `led.keys`
        // while writing used to copy the whole dictionary, and each `led[p]!` read a whole `Led`.)
        var index = led.startIndex
        while index != led.endIndex {
            let partition = led.keys[index]
            if let (epoch, committed) = Self.takeCommit(&led.values[index], all: all) { result.append((partition, epoch, committed)) }
            led.formIndex(after: &index)
        }
        return result
    }

    private static func takeCommit(_ entry: inout Led, all: Bool) -> (epoch: UInt64, committed: UInt64)? {
        guard !entry.loading, !entry.suspended else { return nil }
        let committed = entry.acks.committed
        guard all || committed != entry.publishedCommit else { return nil }
        entry.publishedCommit = committed
        return (entry.store.epoch, committed)
    }

    /// How many entries the unit holds, over all partitions and roles.
    public var entryCount: Int {
        led.values.reduce(0) { $0 + $1.store.count } + followed.values.reduce(0) { $0 + $1.follower.data.count }
    }

    public var primaryCount: Int { led.count }
}

extension AckTracker {
    /// The tokens of a tracker being thrown away (its partition is no longer led here).
    var abandonedTokens: [Int] {
        var copy = self
        return copy.abandon()
    }
}
