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
    }

    public enum Held: Sendable {
        case primary(Led)
        case backup(ReplicaFollower, primary: String)
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

    public private(set) var held: [Int: Held] = [:]
    public private(set) var assignments: [Int: Assignment] = [:]
    public let logCapacity: Int
    private var nextToken = 1
    /// Changes or requests refused for an old epoch (fencing), counted for status.
    public private(set) var fencedRequests: UInt64 = 0

    public init(logCapacity: Int = 256) {
        self.logCapacity = logCapacity
    }

    // MARK: - Assignments

    /// Applies the broker's latest assignment: promotions, demotions, new and dropped partitions.
    public mutating func onAssign(_ assigned: [Assignment], now: UInt64) -> [Directive] {
        var next: [Int: Assignment] = [:]
        for assignment in assigned { next[assignment.lease.partition] = assignment }
        var directives: [Directive] = []
        for partition in held.keys.sorted() where next[partition] == nil {
            if case .primary(var led) = held[partition]! {
                directives += led.acks.abandon().map { .abandon(token: $0) }
            }
            held[partition] = nil
        }
        for partition in next.keys.sorted() {
            let assignment = next[partition]!
            let lease = assignment.lease
            switch (lease.role, held[partition]) {
            case (.primary, .primary(var led)?):
                led.store.epoch = lease.epoch
                led.backups = assignment.backups
                directives += led.acks.setBackups(assignment.backups, now: now).map { .release(token: $0) }
                held[partition] = .primary(led)
            case (.primary, .backup(let follower, _)?):
                // Promoted: the data it followed becomes the partition; sequences continue.
                var store = follower.data
                store.epoch = lease.epoch
                var led = Led(store: store, log: ReplicationLog(capacity: logCapacity), backups: assignment.backups)
                _ = led.acks.setBackups(assignment.backups, now: now)
                held[partition] = .primary(led)
            case (.primary, nil):
                var led = Led(store: PartitionStore(partition: partition, epoch: lease.epoch), log: ReplicationLog(capacity: logCapacity), backups: assignment.backups)
                _ = led.acks.setBackups(assignment.backups, now: now)
                held[partition] = .primary(led)
            case (.backup, .backup(let follower, let primary)?) where follower.epoch == lease.epoch && primary == assignment.primary:
                break
            case (.backup, .backup(let follower, _)?):
                let resync = ReplicaFollower(resyncing: follower.data, epoch: lease.epoch, now: now)
                held[partition] = .backup(resync, primary: assignment.primary)
                directives += follow(partition, resync, assignment.primary)
            case (.backup, .primary(var led)?):
                // Demoted (fenced): what it held may have diverged; resync from the new primary.
                directives += led.acks.abandon().map { .abandon(token: $0) }
                let resync = ReplicaFollower(resyncing: led.store, epoch: lease.epoch, now: now)
                held[partition] = .backup(resync, primary: assignment.primary)
                directives += follow(partition, resync, assignment.primary)
            case (.backup, nil):
                let follower = ReplicaFollower(partition: partition, epoch: lease.epoch, now: now)
                held[partition] = .backup(follower, primary: assignment.primary)
                directives += follow(partition, follower, assignment.primary)
            }
        }
        assignments = next
        return directives
    }

    private func follow(_ partition: Int, _ follower: ReplicaFollower, _ primary: String) -> [Directive] {
        [.follow(primary: primary, partition: partition)] + follower.initialDirectives.map { .toPrimary(primary: primary, $0) }
    }

    // MARK: - Requests (primary)

    /// What serving a request produced.
    public struct Served: Sendable, Equatable {
        public var outcome: OperationOutcome
        /// Set when the reply must wait for backups (sync mode): the shell keeps it under this token.
        public var heldToken: Int?
    }

    /// Serves one routed request, fenced by the route's epoch. A write is logged
    /// for replication; in sync mode its reply waits for the in-sync backups.
    public mutating func handle(route: Route, operation: DataOperation, key: [UInt8], arguments: [[UInt8]], sync: Bool, now: UInt64) -> Served {
        guard case .primary(var led)? = held[route.partition], led.store.epoch == route.epoch else {
            fencedRequests += 1
            return Served(outcome: .failure(.staleEpoch(partition: route.partition, epoch: route.epoch, current: assignments[route.partition]?.lease.epoch)), heldToken: nil)
        }
        let outcome = operation.execute(key: key, arguments: arguments, on: &led.store)
        var token: Int?
        if let change = outcome.change {
            led.log.append(change, at: now)
            if sync {
                let candidate = nextToken
                nextToken += 1
                if led.acks.hold(candidate, sequence: change.sequence).isEmpty { token = candidate }
            }
        }
        held[route.partition] = .primary(led)
        return Served(outcome: outcome, heldToken: token)
    }

    /// Reads a partition this unit leads (for snapshot and catch-up service).
    public func led(_ partition: Int) -> Led? {
        if case .primary(let led)? = held[partition] { return led }
        return nil
    }

    /// A backup acknowledged `sequence` of a partition led here. Returns released replies.
    public mutating func onAcknowledge(backup: String, partition: Int, epoch: UInt64, sequence: UInt64, now: UInt64) -> [Directive] {
        guard case .primary(var led)? = held[partition], led.store.epoch == epoch else { return [] }
        let released = led.acks.onAcknowledge(backup: backup, sequence: sequence, now: now)
        held[partition] = .primary(led)
        return released.map { .release(token: $0) }
    }

    // MARK: - Replication (backup)

    /// Changes from a primary's PUB socket or a catch-up reply.
    public mutating func onChanges(_ changes: [Change], now: UInt64) -> [Directive] {
        guard let first = changes.first, case .backup(var follower, let primary)? = held[first.partition] else {
            if let first = changes.first, changes.contains(where: { $0.epoch < (assignments[first.partition]?.lease.epoch ?? 0) }) {
                fencedRequests += 1
            }
            return []
        }
        let before = follower.staleRefused
        let directives = follower.onChanges(changes, now: now)
        fencedRequests += follower.staleRefused - before
        held[first.partition] = .backup(follower, primary: primary)
        return directives.map { .toPrimary(primary: primary, $0) }
    }

    /// Part of a snapshot for a partition this unit backs up.
    public mutating func onSnapshotChunk(partition: Int, epoch: UInt64, sequence: UInt64, entries: [([UInt8], Entry)], first: Bool, last: Bool, now: UInt64) -> [Directive] {
        guard case .backup(var follower, let primary)? = held[partition] else { return [] }
        let directives = follower.onSnapshotChunk(epoch: epoch, sequence: sequence, entries: entries, first: first, last: last, now: now)
        held[partition] = .backup(follower, primary: primary)
        return directives.map { .toPrimary(primary: primary, $0) }
    }

    // MARK: - Time

    /// Retries for followers, resends for backups that stalled.
    public mutating func onTick(now: UInt64, resendAfterMilliseconds: UInt64) -> [Directive] {
        var directives: [Directive] = []
        for partition in held.keys.sorted() {
            switch held[partition]! {
            case .backup(var follower, let primary):
                let retries = follower.onTick(now: now)
                guard !retries.isEmpty else { continue }
                held[partition] = .backup(follower, primary: primary)
                directives += retries.map { .toPrimary(primary: primary, $0) }
            case .primary(var led):
                let log = led.log
                let stalled = led.acks.stalled(newest: led.store.sequence, now: now, quietMilliseconds: resendAfterMilliseconds) { log.time(of: $0) }
                guard !stalled.isEmpty else { continue }
                held[partition] = .primary(led)
                for (backup, from) in stalled {
                    if let changes = led.log.changes(from: from), !changes.isEmpty {
                        directives.append(.resend(backup: backup, changes: changes))
                    }
                    // Beyond the log: the backup's own gap detection asks for a snapshot.
                }
            }
        }
        return directives
    }

    // MARK: - Reports

    /// What this unit holds, for READY and REPORT.
    public var holdings: [Holding] {
        held.keys.sorted().map { partition in
            switch held[partition]! {
            case .primary(let led):
                return Holding(partition: partition, role: .primary, epoch: led.store.epoch, sequence: led.store.sequence, inSync: true)
            case .backup(let follower, _):
                return Holding(partition: partition, role: .backup, epoch: follower.epoch, sequence: follower.applied, inSync: follower.isFollowing)
            }
        }
    }

    /// Replication lag of one led partition: sequences the slowest backup is behind,
    /// and the age of the oldest change some backup has not acknowledged.
    public func lag(of partition: Int, now: UInt64) -> (behind: UInt64, oldestUnacknowledgedMilliseconds: UInt64)? {
        guard let led = led(partition), !led.backups.isEmpty else { return nil }
        let newest = led.store.sequence
        let behind = led.acks.behind(newest: newest)
        guard let oldest = led.acks.oldestUnacknowledged(newest: newest) else { return (behind, 0) }
        // A change that already left the log is older than the oldest one kept.
        let appliedAt = led.log.time(of: oldest) ?? led.log.time(of: led.log.oldest) ?? now
        return (behind, now - min(now, appliedAt))
    }

    /// How many entries the unit holds, over all partitions and roles.
    public var entryCount: Int {
        held.values.reduce(0) { total, held in
            switch held {
            case .primary(let led): return total + led.store.count
            case .backup(let follower, _): return total + follower.data.count
            }
        }
    }

    public var primaryCount: Int { held.values.filter { if case .primary = $0 { return true } else { return false } }.count }
}
