/// One partition on its primary: how far each backup has applied, which
/// replies wait for them (sync mode), and how far behind they are.
///
/// Pure. A reply waits (as an opaque token) until every backup that is in
/// sync has acknowledged its change. A backup counts once it acknowledged
/// anything (it only acknowledges after installing a snapshot); a backup
/// that is still catching up cannot hold writes back, since it would not hold
/// them after a failover either.
public struct AckTracker: Sendable {
    public struct Backup: Sendable, Equatable {
        /// The highest sequence the backup acknowledged (nil: none yet, still catching up).
        public var acknowledged: UInt64?
        /// When it last made progress, for resending what it seems to have missed.
        public var progressAt: UInt64
    }

    public private(set) var backups: [String: Backup] = [:]
    /// Replies waiting for acknowledgements: (sequence, token), in sequence order.
    private var waiting: [(sequence: UInt64, token: Int)] = []
    private var waitingStart = 0

    public init() {}

    /// How many replies wait.
    public var waitingCount: Int { waiting.count - waitingStart }

    /// The backups changed (a new assignment). Returns the tokens that no longer need to wait.
    public mutating func setBackups(_ names: [String], now: UInt64) -> [Int] {
        var next: [String: Backup] = [:]
        for name in names { next[name] = backups[name] ?? Backup(acknowledged: nil, progressAt: now) }
        backups = next
        return release()
    }

    /// Holds `token` until every in-sync backup acknowledged `sequence`; returns it at once when none need to.
    public mutating func hold(_ token: Int, sequence: UInt64) -> [Int] {
        if isAcknowledged(sequence) { return [token] }
        waiting.append((sequence, token))
        return []
    }

    /// A backup acknowledged everything up to `sequence`. Returns the tokens released.
    public mutating func onAcknowledge(backup: String, sequence: UInt64, now: UInt64) -> [Int] {
        guard var state = backups[backup] else { return [] }
        if sequence > state.acknowledged ?? 0 || state.acknowledged == nil {
            state.acknowledged = max(sequence, state.acknowledged ?? 0)
            state.progressAt = now
            backups[backup] = state
        }
        return release()
    }

    /// Drops every waiting reply (the partition is no longer led here); returns their tokens.
    public mutating func abandon() -> [Int] {
        let tokens = waiting[waitingStart...].map(\.token)
        waiting.removeAll()
        waitingStart = 0
        return tokens
    }

    private func isAcknowledged(_ sequence: UInt64) -> Bool {
        backups.values.allSatisfy { $0.acknowledged.map { $0 >= sequence } ?? true }
    }

    private mutating func release() -> [Int] {
        var released: [Int] = []
        while waitingStart < waiting.count, isAcknowledged(waiting[waitingStart].sequence) {
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
