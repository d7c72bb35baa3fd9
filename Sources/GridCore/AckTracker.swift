/// One partition on its primary: how far each backup has applied, which of them
/// the primary waits for, and the resulting commit index (DESIGN.md section 5).
///
/// Pure. The one definition of "in sync" lives here:
/// - A backup is **in the hold set** when writes wait for it: a reply (and in sync
///   mode any reply at all of the partition) is released only once every member of
///   the hold set acknowledged the sequence it depends on. That sequence is then
///   **committed**; `committed` only grows.
/// - A backup is **in sync** when it is in the hold set and holds every change released
///   so far: it acknowledged the snapshot and every change since, up to the commit index
///   of the moment it joined (`joinPoint`). Only in-sync backups are reported to the
///   broker, and the broker promotes only those.
/// - A backup that is catching up joins the hold set once it is close (within
///   `joinSlack` sequences of the newest, or past the commit index); it never leaves it
///   by the primary's own decision: only the broker removes a backup (it died, or was
///   moved), so the broker never promotes one the primary released writes without.
/// - A backup the broker already counts as in sync when this primary took over (it was
///   in sync under the previous primary, which held every acknowledged write back for
///   it) is in the hold set from the first write on.
///
/// Acknowledgements count only from the backup's current process (`incarnation`, from
/// the broker) and current follower (`follow`, from the backup's own snapshot and catch-up
/// requests): a late acknowledgement of an earlier follower says nothing about this one.
public struct AckTracker: Sendable {
    public enum Standing: Sendable, Equatable {
        /// Not waited for; cannot be promoted.
        case catchingUp
        /// Waited for; in sync once it acknowledged `joinPoint`.
        case holding(joinPoint: UInt64)
        /// Waited for, and holds every change released so far.
        case inSync
    }

    public struct Backup: Sendable, Equatable {
        public var incarnation: UInt64
        /// The follower it acknowledges under; nil until its first snapshot or catch-up request.
        public var follow: UInt64?
        /// The highest sequence it acknowledged under `follow` (nil: none yet).
        public var acknowledged: UInt64?
        public var standing: Standing
        /// When it last made progress, for resending what it seems to have missed.
        public var progressAt: UInt64

        public var isHeldFor: Bool { standing != .catchingUp }
    }

    /// A backup as the broker's assignment names it.
    public struct Member: Sendable, Equatable {
        public var name: String
        public var incarnation: UInt64
        /// The broker counts it as in sync (carried over from the previous primary).
        public var inSync: Bool

        public init(name: String, incarnation: UInt64 = 0, inSync: Bool = false) {
            self.name = name
            self.incarnation = incarnation
            self.inSync = inSync
        }
    }

    public private(set) var backups: [String: Backup] = [:]
    /// The backups in the order of the assignment (bit `i` of `inSyncMask` is `order[i]`).
    public private(set) var order: [String] = []
    /// Every change up to here is on every backup of the hold set.
    public private(set) var committed: UInt64
    /// The partition's newest sequence.
    public private(set) var newest: UInt64
    public let joinSlack: UInt64
    /// Replies waiting for acknowledgements: (sequence, token), in the order held.
    private var waiting: [(sequence: UInt64, token: Int)] = []
    private var waitingStart = 0

    /// - Parameters:
    ///   - newest: the partition's sequence now.
    ///   - committed: what is known committed (default: all of it, as for a partition with
    ///     no backup yet). A promoted primary whose previous backups stay in sync passes 0:
    ///     it does not know how far its predecessor's commit went.
    public init(newest: UInt64 = 0, committed: UInt64? = nil, joinSlack: UInt64 = 1_000) {
        self.newest = newest
        self.committed = committed ?? newest
        self.joinSlack = joinSlack
    }

    /// How many replies wait.
    public var waitingCount: Int { waiting.count - waitingStart }

    /// The backups the primary counts as in sync, in assignment order.
    public var inSyncNames: [String] { order.filter { backups[$0]?.standing == .inSync } }

    /// Bit `i` set when `order[i]` is in sync (what REPORT carries).
    public var inSyncMask: UInt8 {
        var mask: UInt8 = 0
        for (index, name) in order.prefix(8).enumerated() where backups[name]?.standing == .inSync { mask |= 1 << UInt8(index) }
        return mask
    }

    // MARK: - Membership

    /// The backups changed (a new assignment). Returns the tokens that no longer need to wait.
    public mutating func setBackups(_ members: [Member], now: UInt64) -> [Int] {
        var next: [String: Backup] = [:]
        for member in members {
            if var kept = backups[member.name], kept.incarnation == member.incarnation {
                if member.inSync && kept.standing == .catchingUp { kept.standing = .holding(joinPoint: committed) }
                next[member.name] = kept
            } else {
                next[member.name] = Backup(
                    incarnation: member.incarnation, follow: nil, acknowledged: nil,
                    standing: member.inSync ? .holding(joinPoint: newest) : .catchingUp, progressAt: now)
            }
        }
        backups = next
        order = members.map(\.name)
        advance()
        return release()
    }

    /// A backup asked for a snapshot or a catch-up under follower `follow`: from now on
    /// only that follower's acknowledgements count. A new follower of a backup already
    /// waited for stays waited for (only the broker removes one).
    public mutating func onFollowerRequest(backup: String, follow: UInt64, now: UInt64) {
        guard var state = backups[backup], state.follow != follow else { return }
        state.follow = follow
        state.acknowledged = nil
        state.progressAt = now
        if state.isHeldFor { state.standing = .holding(joinPoint: committed) }
        backups[backup] = state
    }

    // MARK: - Writes and replies

    /// The primary applied a change.
    public mutating func onAppend(sequence: UInt64) {
        newest = max(newest, sequence)
        advance()
    }

    /// Holds `token` until `sequence` is committed; returns it at once when it already is.
    public mutating func hold(_ token: Int, sequence: UInt64) -> [Int] {
        if sequence <= committed { return [token] }
        waiting.append((sequence, token))
        return []
    }

    /// What an acknowledgement changed.
    public struct Acknowledged: Sendable, Equatable {
        public var released: [Int]
        /// The backup became in sync with this acknowledgement.
        public var nowInSync: Bool
    }

    /// A backup acknowledged everything up to `sequence` under follower `follow`.
    public mutating func onAcknowledge(backup: String, follow: UInt64, sequence: UInt64, now: UInt64) -> Acknowledged {
        guard var state = backups[backup], state.follow == follow else { return Acknowledged(released: [], nowInSync: false) }
        let wasInSync = state.standing == .inSync
        if sequence > state.acknowledged ?? 0 || state.acknowledged == nil {
            state.acknowledged = max(sequence, state.acknowledged ?? 0)
            state.progressAt = now
        }
        let acknowledged = state.acknowledged ?? 0
        switch state.standing {
        case .catchingUp:
            if acknowledged >= committed {
                state.standing = .inSync
            } else if newest - min(newest, acknowledged) <= joinSlack {
                state.standing = .holding(joinPoint: committed)
            }
        case .holding(let joinPoint):
            if acknowledged >= joinPoint { state.standing = .inSync }
        case .inSync:
            break
        }
        backups[backup] = state
        advance()
        return Acknowledged(released: release(), nowInSync: !wasInSync && state.standing == .inSync)
    }

    /// Drops every waiting reply (the partition is no longer led here); returns their tokens.
    public mutating func abandon() -> [Int] {
        let tokens = waiting[waitingStart...].map(\.token)
        waiting.removeAll()
        waitingStart = 0
        return tokens
    }

    /// Raises the commit index to what every member of the hold set acknowledged.
    private mutating func advance() {
        var lowest = newest
        for state in backups.values where state.isHeldFor {
            lowest = min(lowest, state.acknowledged ?? 0)
        }
        committed = max(committed, lowest)
    }

    private mutating func release() -> [Int] {
        var released: [Int] = []
        while waitingStart < waiting.count, waiting[waitingStart].sequence <= committed {
            released.append(waiting[waitingStart].token)
            waitingStart += 1
        }
        if waitingStart > 1_024 && waitingStart * 2 > waiting.count {
            waiting.removeFirst(waitingStart)
            waitingStart = 0
        } else if waitingStart == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            waitingStart = 0
        }
        return released
    }

    // MARK: - Lag

    /// Backups that have not acknowledged `newest` and made no progress for `quietMilliseconds`
    /// since the first change they lack was applied (`appliedAt`, when known): they probably
    /// missed a PUB message, so the primary resends from their next sequence.
    public mutating func stalled(newest: UInt64, now: UInt64, quietMilliseconds: UInt64, appliedAt: (UInt64) -> UInt64? = { _ in nil }) -> [(backup: String, from: UInt64)] {
        var result: [(String, UInt64)] = []
        for (name, state) in backups.sorted(by: { $0.key < $1.key }) {
            guard let acknowledged = state.acknowledged, acknowledged < newest else { continue }
            let since = max(state.progressAt, appliedAt(acknowledged + 1) ?? 0)
            guard now - min(now, since) >= quietMilliseconds else { continue }
            result.append((name, acknowledged + 1))
            backups[name]!.progressAt = now
        }
        return result
    }

    /// Sequences the slowest backup is behind `newest` (a backup still catching up counts from 0).
    public func behind(newest: UInt64) -> UInt64 {
        backups.values.map { newest - min(newest, $0.acknowledged ?? 0) }.max() ?? 0
    }

    /// The oldest sequence some backup has not acknowledged, if any.
    public func oldestUnacknowledged(newest: UInt64) -> UInt64? {
        guard let lowest = backups.values.map({ $0.acknowledged ?? 0 }).min(), lowest < newest else { return nil }
        return lowest + 1
    }
}
