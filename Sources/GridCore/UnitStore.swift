/// Everything one unit holds: the partitions it leads (with their replication
/// log and backup acknowledgements) and the ones it backs up (followers).
///
/// Pure: the unit shell feeds it the broker's assignments, routed requests,
/// changes from primaries and acknowledgements from backups, with the time;
/// it returns what to send. Held replies (sync mode) are opaque tokens the
/// shell maps to the reply frames it keeps.
public struct UnitStore: Sendable {
    /// A partition this unit leads.
    public struct Led: Sendable {
        public var store: PartitionStore
        public var log: ReplicationLog
        public var acks = AckTracker()
        public var backups: [String]

        /// The changes from `from` to the partition's newest, or nil when the log does not
        /// hold them all: it starts empty after a promotion or a load from the database,
        /// while the partition's sequence goes on from where it was. Nil means a snapshot.
        public func replay(from: UInt64) -> [Change]? {
            if from > store.sequence { return [] }
            guard log.count > 0, log.newest == store.sequence else { return nil }
            return log.changes(from: from)
        }
    }

    public enum Held: Sendable {
        case primary(Led)
        case backup(ReplicaFollower, primary: String)
    }

    /// A partition this unit backs up, and the unit it follows.
    public struct Followed: Sendable {
        public var follower: ReplicaFollower
        public var primary: String
    }

    /// What the shell must do.
    public enum Directive: Sendable, Equatable {
        /// Send the held reply `token` now.
        case release(token: Int)
        /// Drop the held reply `token`: the partition is no longer led here (the broker re-routes).
        case abandon(token: Int)
        /// Send to `primary`'s replication ROUTER (snapshot, catch-up or acknowledgement).
        case toPrimary(primary: String, ReplicaFollower.Directive)
        /// Send these changes straight to `backup` (it missed them on PUB).
        case resend(backup: String, changes: [Change])
        /// A backup this unit follows now needs a snapshot from `primary` (the partition was re-assigned).
        case follow(primary: String, partition: Int)
    }

    // Primaries and backups live in two dictionaries and are changed in place
    // (`led[p]!.store.put(...)`): taking a copy out of a dictionary and writing
    // it back would copy the whole partition on every write.
    public private(set) var led: [Int: Led] = [:]
    public private(set) var followed: [Int: Followed] = [:]
    public private(set) var assignments: [Int: Assignment] = [:]
    public let logCapacity: Int
    private var nextToken = 1
    /// Changes or requests refused for an old epoch (fencing), counted for status.
    public private(set) var fencedRequests: UInt64 = 0

    public init(logCapacity: Int = 256) {
        self.logCapacity = logCapacity
    }

    /// Everything held, by partition (for reports and tests; not for the hot path).
    public var held: [Int: Held] {
        var result: [Int: Held] = [:]
        for (partition, led) in led { result[partition] = .primary(led) }
        for (partition, followed) in followed { result[partition] = .backup(followed.follower, primary: followed.primary) }
        return result
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
            let lease = assignment.lease
            switch lease.role {
            case .primary:
                if led[partition] != nil {
                    led[partition]!.store.epoch = lease.epoch
                    led[partition]!.backups = assignment.backups
                    directives += led[partition]!.acks.setBackups(assignment.backups, now: now).map { .release(token: $0) }
                    continue
                }
                // Promoted: the data it followed becomes the partition and sequences continue; or it starts empty.
                var store = followed.removeValue(forKey: partition)?.follower.data ?? PartitionStore(partition: partition, epoch: lease.epoch)
                store.epoch = lease.epoch
                var entry = Led(store: store, log: ReplicationLog(capacity: logCapacity), backups: assignment.backups)
                _ = entry.acks.setBackups(assignment.backups, now: now)
                led[partition] = entry
            case .backup:
                if let current = followed[partition], current.follower.epoch == lease.epoch, current.primary == assignment.primary {
                    continue
                }
                let follower: ReplicaFollower
                if let demoted = led.removeValue(forKey: partition) {
                    // Demoted (fenced): what it held may have diverged; resync from the new primary.
                    var acks = demoted.acks
                    directives += acks.abandon().map { .abandon(token: $0) }
                    follower = ReplicaFollower(resyncing: demoted.store, epoch: lease.epoch, now: now)
                } else if let current = followed.removeValue(forKey: partition) {
                    follower = ReplicaFollower(resyncing: current.follower.data, epoch: lease.epoch, now: now)
                } else {
                    follower = ReplicaFollower(partition: partition, epoch: lease.epoch, now: now)
                }
                followed[partition] = Followed(follower: follower, primary: assignment.primary)
                directives.append(.follow(primary: assignment.primary, partition: partition))
                directives += follower.initialDirectives.map { .toPrimary(primary: assignment.primary, $0) }
            }
        }
        assignments = next
        return directives
    }

    // MARK: - Requests (primary)

    /// What serving a request produced.
    public struct Served: Sendable, Equatable {
        public var outcome: OperationOutcome
        /// Set when the reply must wait for backups (sync mode): the shell keeps it under this token.
        public var heldToken: Int?

        public init(outcome: OperationOutcome, heldToken: Int?) {
            self.outcome = outcome
            self.heldToken = heldToken
        }
    }

    /// Serves one routed request, fenced by the route's epoch. A write is logged
    /// for replication; in sync mode its reply waits for the in-sync backups.
    public mutating func handle(route: Route, operation: DataOperation, key: [UInt8], arguments: [[UInt8]], sync: Bool, now: UInt64) -> Served {
        serve(route: route, sync: sync, now: now) { operation.execute(key: key, arguments: arguments, on: &$0) }
    }

    /// Serves one routed request with a section's domain operation.
    public mutating func handle(route: Route, run operation: SectionOperation, key: [UInt8], arguments: [[UInt8]], sync: Bool, now: UInt64) -> Served {
        serve(route: route, sync: sync, now: now) { $0.run(operation, key: key, arguments: arguments) }
    }

    /// Whether this unit leads `route.partition` under exactly `route.epoch`.
    public func leads(_ route: Route) -> Bool { led[route.partition]?.store.epoch == route.epoch }

    private mutating func serve(route: Route, sync: Bool, now: UInt64, _ body: (inout PartitionStore) -> OperationOutcome) -> Served {
        guard leads(route) else {
            fencedRequests += 1
            return Served(outcome: .failure(.staleEpoch(partition: route.partition, epoch: route.epoch, current: assignments[route.partition]?.lease.epoch)), heldToken: nil)
        }
        let outcome = body(&led[route.partition]!.store)
        var token: Int?
        if let change = outcome.change { token = logged(change, partition: route.partition, sync: sync, now: now) }
        return Served(outcome: outcome, heldToken: token)
    }

    /// Logs a change for replication; in sync mode returns the token its reply must wait under.
    private mutating func logged(_ change: Change, partition: Int, sync: Bool, now: UInt64) -> Int? {
        led[partition]!.log.append(change, at: now)
        guard sync else { return nil }
        let candidate = nextToken
        nextToken += 1
        return led[partition]!.acks.hold(candidate, sequence: change.sequence).isEmpty ? candidate : nil
    }

    /// A write the unit makes on its own (a workflow recording its progress) in a partition it leads.
    /// Returns the change, and in sync mode the token a reply depending on it must wait under.
    public mutating func write(partition: Int, key: [UInt8], _ write: OperationOutput.Write, sync: Bool, now: UInt64) -> (change: Change?, token: Int?) {
        guard led[partition] != nil else { return (nil, nil) }
        let change: Change?
        switch write {
        case .none: change = nil
        case .put(let value): change = led[partition]!.store.put(key, value)
        case .delete: change = led[partition]!.store.delete(key)
        }
        guard let change else { return (nil, nil) }
        return (change, logged(change, partition: partition, sync: sync, now: now))
    }

    /// A partition led here that started empty receives what the database holds (a cold
    /// start, or every replica lost). Refused (false) once anything was written to it:
    /// the shell holds the partition's requests until the load is installed.
    public mutating func installLoaded(partition: Int, entries: EntryTable, sequence: UInt64) -> Bool {
        guard let current = led[partition], current.store.sequence == 0, current.store.count == 0 else { return false }
        led[partition]!.store = PartitionStore(partition: partition, epoch: current.store.epoch, sequence: sequence, entries: entries)
        return true
    }

    /// A partition this unit leads (for snapshot and catch-up service).
    public func led(_ partition: Int) -> Led? { led[partition] }

    /// A backup acknowledged `sequence` of a partition led here. Returns released replies.
    public mutating func onAcknowledge(backup: String, partition: Int, epoch: UInt64, sequence: UInt64, now: UInt64) -> [Directive] {
        guard led[partition]?.store.epoch == epoch else { return [] }
        return led[partition]!.acks.onAcknowledge(backup: backup, sequence: sequence, now: now).map { .release(token: $0) }
    }

    // MARK: - Replication (backup)

    /// Changes from a primary's PUB socket or a catch-up reply (all of one partition).
    public mutating func onChanges(_ changes: [Change], now: UInt64) -> [Directive] {
        guard let first = changes.first else { return [] }
        guard followed[first.partition] != nil else {
            if changes.contains(where: { $0.epoch < (assignments[first.partition]?.lease.epoch ?? 0) }) {
                fencedRequests += 1
            }
            return []
        }
        let before = followed[first.partition]!.follower.staleRefused
        let directives = followed[first.partition]!.follower.onChanges(changes, now: now)
        fencedRequests += followed[first.partition]!.follower.staleRefused - before
        let primary = followed[first.partition]!.primary
        return directives.map { .toPrimary(primary: primary, $0) }
    }

    /// Part of a snapshot for a partition this unit backs up.
    public mutating func onSnapshotChunk(partition: Int, epoch: UInt64, sequence: UInt64, entries: [([UInt8], Entry)], first: Bool, last: Bool, now: UInt64) -> [Directive] {
        guard followed[partition] != nil else { return [] }
        let directives = followed[partition]!.follower.onSnapshotChunk(epoch: epoch, sequence: sequence, entries: entries, first: first, last: last, now: now)
        let primary = followed[partition]!.primary
        return directives.map { .toPrimary(primary: primary, $0) }
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
        for partition in led.keys.sorted() {
            let newest = led[partition]!.store.sequence
            let log = led[partition]!.log
            let stalled = led[partition]!.acks.stalled(newest: newest, now: now, quietMilliseconds: resendAfterMilliseconds) { log.time(of: $0) }
            for (backup, from) in stalled {
                // Beyond the log, the backup's own gap detection asks for a snapshot.
                if let changes = led[partition]!.replay(from: from), !changes.isEmpty {
                    directives.append(.resend(backup: backup, changes: changes))
                }
            }
        }
        return directives
    }

    // MARK: - Reports

    /// What this unit holds, for READY and REPORT.
    public var holdings: [Holding] {
        var result: [Holding] = []
        result.reserveCapacity(led.count + followed.count)
        for (partition, led) in led {
            result.append(Holding(partition: partition, role: .primary, epoch: led.store.epoch, sequence: led.store.sequence, inSync: true))
        }
        for (partition, followed) in followed {
            let follower = followed.follower
            result.append(Holding(partition: partition, role: .backup, epoch: follower.epoch, sequence: follower.applied, inSync: follower.isFollowing))
        }
        return result.sorted { $0.partition < $1.partition }
    }

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

    /// How many entries the unit holds, over all partitions and roles.
    public var entryCount: Int {
        led.values.reduce(0) { $0 + $1.store.count } + followed.values.reduce(0) { $0 + $1.follower.data.count }
    }

    public var primaryCount: Int { led.count }
}
