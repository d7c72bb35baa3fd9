/// The mirror's core for one section: decides which changes go to the database,
/// in which batch and when (DESIGN.md section 6).
///
/// Pure. The mirror shell feeds it every partition's changes (PUB and replays),
/// ticks it, reports how each batch ended, and carries out the directives:
/// - `flush(batch)`: write the batch's rows AND its watermarks in one transaction,
///   then report `onBatchCommitted` or `onBatchFailed` with the batch's id.
/// - `retryAt(time)`: the failed batch is written again at the first tick at or after `time`.
/// - `missing(partition:, from:)`: a gap; ask the partition's primary to replay from `from`
///   (or for a snapshot when its log no longer reaches back).
///
/// Why nothing is lost and nothing is applied twice: a batch carries, per partition,
/// the highest sequence it covers, and the database stores it with the rows. Batches
/// are cut from the stream in arrival order and written one at a time, so a stored
/// watermark always means "every change up to here is in the database, none after".
/// A restarted mirror builds a new buffer from the stored watermarks and has the
/// primaries replay from watermark + 1; whatever was buffered or in flight when it
/// died is simply received again, and anything at or below a watermark is ignored.
///
/// Gaps: a change that skips ahead is kept aside (like `ReplicaFollower`) rather
/// than refused: under load the primary keeps publishing while the replay is on its
/// way, and refusing those changes would open a new gap behind every replay.
/// Kept-aside changes join the stream once the gap fills; beyond
/// `maximumAhead` they are dropped, since a later replay brings them again.
/// Changes lost at the end of a stream are noticed through `onNewest`.
///
/// Epochs are not checked: a replay by a newly promoted primary legitimately
/// carries changes applied under the previous epoch, and the sequence alone orders
/// a partition's history.
public struct WriteBehindBuffer: Sendable {
    /// One row to write: the key's latest state in the batch.
    public struct Row: Sendable, Equatable {
        public var section: String
        public var partition: Int
        public var key: [UInt8]
        /// The new value; nil for a delete (the row is removed).
        public var value: [UInt8]?
        /// The entry's version (the sequence of the change that produced this state).
        public var version: UInt64

        public init(section: String, partition: Int, key: [UInt8], value: [UInt8]?, version: UInt64) {
            self.section = section
            self.partition = partition
            self.key = key
            self.value = value
            self.version = version
        }
    }

    /// What one database transaction writes.
    public struct Batch: Sendable, Equatable {
        /// Grows by one per batch; a retry keeps its id.
        public var id: UInt64
        /// 1 for the first write, 2 for the first retry, and so on.
        public var attempt: Int
        /// One row per distinct (partition, key), in the order the keys were first written.
        public var rows: [Row]
        /// Per partition, the highest sequence this batch covers: stored in the same
        /// transaction as the rows. Only partitions with changes in the batch appear.
        public var watermarks: [Int: UInt64]
        /// How many changes the batch carries, coalesced ones included.
        public var changes: Int
        /// Partitions a snapshot replaced: every stored row of these partitions is removed
        /// first, in the same transaction, and the batch's rows then hold their whole content.
        public var replacing: Set<Int>

        public init(id: UInt64, attempt: Int, rows: [Row], watermarks: [Int: UInt64], changes: Int, replacing: Set<Int> = []) {
            self.id = id
            self.attempt = attempt
            self.rows = rows
            self.watermarks = watermarks
            self.changes = changes
            self.replacing = replacing
        }
    }

    public enum Directive: Sendable, Equatable {
        case flush(Batch)
        case retryAt(UInt64)
        case missing(partition: Int, from: UInt64)
    }

    /// A row's identity within the section.
    private struct RowKey: Hashable, Sendable {
        var partition: Int
        var key: [UInt8]
    }

    /// Accepted changes not yet handed out, cut in arrival order. Only the last
    /// segment takes changes; it closes when a new key would exceed `maximumBatch`.
    /// Coalescing never crosses segments, so each segment's watermarks are a clean
    /// prefix of every partition's stream.
    private struct Segment: Sendable {
        var rows: [Row] = []
        var index: [RowKey: Int] = [:]
        var watermarks: [Int: UInt64] = [:]
        var changes = 0
        /// Partitions whose stored rows this segment's rows replace (a snapshot).
        var replacing: Set<Int> = []
        /// When its oldest change arrived.
        var oldestAt: UInt64
    }

    /// The batch handed out and not yet committed.
    private struct Outstanding: Sendable {
        var batch: Batch
        /// When its oldest change arrived, for the backlog age.
        var oldestAt: UInt64
        /// nil: being written now; otherwise it failed and is written again at this time.
        var retryAt: UInt64?
    }

    /// A gap in one partition's stream.
    private struct Gap: Sendable {
        /// Changes beyond the gap, by sequence, with their arrival time.
        var ahead: [UInt64: (change: Change, at: UInt64)] = [:]
        /// The highest sequence known to exist: the gap is closed once it is accepted.
        var through: UInt64
        /// When the replay was last asked for or last made progress.
        var askedAt: UInt64
    }

    public let section: String
    public let maximumBatch: Int
    public let maximumDelayMilliseconds: UInt64
    public let retryBaseMilliseconds: UInt64
    public let retryMaximumMilliseconds: UInt64

    /// How long a gap may make no progress before the replay is asked for again.
    public static let missingRetryMilliseconds: UInt64 = 1_000
    /// How many changes may wait beyond gaps (all partitions together) before further ones are dropped.
    public static let maximumAhead = 10_000

    /// Per partition, the sequence the database holds (committed).
    private var committed: [Int: UInt64]
    /// Per partition, the highest sequence accepted (committed, in a batch, or pending).
    private var accepted: [Int: UInt64]
    private var segments: [Segment] = []
    private var outstanding: Outstanding?
    private var gapsByPartition: [Int: Gap] = [:]
    private var nextBatchID: UInt64 = 1
    private var draining = false

    /// Changes ignored because they were at or below what was already accepted
    /// (the watermark, a buffered sequence, or one already kept aside).
    public private(set) var duplicates: UInt64 = 0
    /// Gaps detected (each reported once by `missing`; repeats after no progress are not counted).
    public private(set) var gaps: UInt64 = 0
    /// Changes beyond a gap dropped because `maximumAhead` were already kept aside.
    public private(set) var droppedAhead: UInt64 = 0
    /// Failures in a row of the current batch; 0 after a success.
    public private(set) var consecutiveFailures = 0
    /// The message of the last failure, until the next success.
    public private(set) var lastError: String?
    /// Accepted changes not yet committed: in the outstanding batch or pending, COUNTING
    /// coalesced ones (each is a change the database does not have yet). Changes kept
    /// aside beyond a gap are not accepted yet; see `heldAside`.
    public private(set) var pendingChanges = 0
    /// Changes kept aside beyond gaps.
    public private(set) var heldAside = 0

    /// - Parameters:
    ///   - watermarks: per partition, the sequence the database already holds (read at start).
    public init(section: String, maximumBatch: Int, maximumDelayMilliseconds: UInt64, retryBaseMilliseconds: UInt64 = 100, retryMaximumMilliseconds: UInt64 = 10_000, watermarks: [Int: UInt64] = [:]) {
        precondition(maximumBatch > 0, "a batch holds at least one row")
        self.section = section
        self.maximumBatch = maximumBatch
        self.maximumDelayMilliseconds = maximumDelayMilliseconds
        self.retryBaseMilliseconds = retryBaseMilliseconds
        self.retryMaximumMilliseconds = max(retryMaximumMilliseconds, retryBaseMilliseconds)
        committed = watermarks
        accepted = watermarks
    }

    // MARK: - Figures

    /// The sequence of `partition` the database holds (0: nothing yet).
    public func watermark(of partition: Int) -> UInt64 { committed[partition] ?? 0 }

    /// Every partition's committed watermark, as the database holds them.
    public var watermarks: [Int: UInt64] { committed }

    /// The highest sequence of `partition` accepted so far (the next expected is one more).
    public func acceptedSequence(of partition: Int) -> UInt64 { accepted[partition] ?? 0 }

    /// A batch is being written now (not counting a failed one waiting for its retry).
    public var inFlight: Bool { outstanding.map { $0.retryAt == nil } ?? false }

    /// When the failed batch is written again, if one waits.
    public var retryingAt: UInt64? { outstanding?.retryAt }

    /// Distinct rows not yet committed (the outstanding batch's plus the pending ones).
    public var pendingRows: Int { (outstanding?.batch.rows.count ?? 0) + segments.reduce(0) { $0 + $1.rows.count } }

    /// How long the oldest change not yet committed has waited (0 when none wait).
    /// Kept-aside changes count from when they were received.
    public func oldestPendingAge(now: UInt64) -> UInt64 {
        var oldest = outstanding?.oldestAt ?? segments.first?.oldestAt
        for gap in gapsByPartition.values {
            for entry in gap.ahead.values { oldest = min(oldest ?? entry.at, entry.at) }
        }
        guard let oldest else { return 0 }
        return now - min(now, oldest)
    }

    /// Partitions with an open gap and the sequence they wait for.
    public var openGaps: [Int: UInt64] {
        var result: [Int: UInt64] = [:]
        for partition in gapsByPartition.keys { result[partition] = acceptedSequence(of: partition) + 1 }
        return result
    }

    /// Nothing pending, outstanding or kept aside: everything received is in the database.
    public var isIdle: Bool { outstanding == nil && segments.isEmpty && gapsByPartition.isEmpty }

    // MARK: - Changes

    /// A change of some partition of this section (PUB or a replay).
    public mutating func onChange(_ change: Change, now: UInt64) -> [Directive] {
        let partition = change.partition
        let last = acceptedSequence(of: partition)
        guard change.sequence > last else {
            duplicates += 1
            return []
        }
        var directives: [Directive] = []
        if change.sequence == last + 1 {
            accept(change, at: now)
            drainAhead(partition, now: now)
        } else {
            directives += keepAside(change, now: now)
        }
        directives += flushIfDue(now: now)
        return directives
    }

    /// The partition's primary announced its newest sequence (a heartbeat or a replay's
    /// end). Changes lost at the tail of a stream are seen by no later change, so this
    /// is how they are noticed: anything beyond what was accepted is a gap.
    public mutating func onNewest(partition: Int, sequence: UInt64, now: UInt64) -> [Directive] {
        guard sequence > acceptedSequence(of: partition) else { return [] }
        if var gap = gapsByPartition[partition] {
            gap.through = max(gap.through, sequence)
            gapsByPartition[partition] = gap
            return []
        }
        gaps += 1
        gapsByPartition[partition] = Gap(through: sequence, askedAt: now)
        return [.missing(partition: partition, from: acceptedSequence(of: partition) + 1)]
    }

    /// Several changes at once (a replay).
    public mutating func onChanges(_ changes: [Change], now: UInt64) -> [Directive] {
        var directives: [Directive] = []
        for change in changes { directives += onChange(change, now: now) }
        return directives
    }

    /// A whole partition as its primary held it at `sequence` (asked for when its log no
    /// longer reached back to the gap). It replaces the partition in the database: keys
    /// missing from it were deleted meanwhile. It goes into a segment of its own, after
    /// everything buffered before it, and changes after `sequence` continue the stream.
    public mutating func onSnapshot(partition: Int, sequence: UInt64, entries: [(key: [UInt8], entry: Entry)], now: UInt64) -> [Directive] {
        guard sequence > acceptedSequence(of: partition) else {
            duplicates += 1
            return []
        }
        // Kept-aside changes the snapshot already covers are spent.
        if var gap = gapsByPartition.removeValue(forKey: partition) {
            for covered in gap.ahead.keys where covered <= sequence {
                gap.ahead[covered] = nil
                heldAside -= 1
            }
            gapsByPartition[partition] = gap
        }
        var segment = Segment(oldestAt: now)
        segment.replacing = [partition]
        segment.rows.reserveCapacity(entries.count)
        for (key, entry) in entries {
            let rowKey = RowKey(partition: partition, key: key)
            if let position = segment.index[rowKey] {
                segment.rows[position].value = entry.value
                segment.rows[position].version = entry.version
                continue
            }
            segment.index[rowKey] = segment.rows.count
            segment.rows.append(Row(section: section, partition: partition, key: key, value: entry.value, version: entry.version))
        }
        segment.watermarks[partition] = sequence
        // Counted as one change: it is one step of the partition's stream, whatever its size.
        segment.changes = 1
        segments.append(segment)
        pendingChanges += 1
        accepted[partition] = sequence
        drainAhead(partition, now: now)
        return flushIfDue(now: now)
    }

    private mutating func accept(_ change: Change, at time: UInt64) {
        accepted[change.partition] = change.sequence
        pendingChanges += 1
        let rowKey = RowKey(partition: change.partition, key: change.key)
        let row = Row(section: section, partition: change.partition, key: change.key,
                      value: change.kind == .delete ? nil : change.value, version: change.version)
        // Segments are changed in place (no copy of their rows per change).
        // Coalesce into the open segment when it already has the key: the last write wins.
        if let open = segments.indices.last, let position = segments[open].index[rowKey] {
            segments[open].rows[position] = row
        } else {
            // A new key: into the open segment while it has room, else a new segment.
            if segments.isEmpty || segments[segments.count - 1].rows.count >= maximumBatch {
                segments.append(Segment(oldestAt: time))
            }
            let open = segments.count - 1
            segments[open].index[rowKey] = segments[open].rows.count
            segments[open].rows.append(row)
        }
        let open = segments.count - 1
        segments[open].watermarks[change.partition] = change.sequence
        segments[open].changes += 1
        segments[open].oldestAt = min(segments[open].oldestAt, time)
    }

    /// A change beyond a gap: kept until the gap fills. Asks for the replay once per gap.
    private mutating func keepAside(_ change: Change, now: UInt64) -> [Directive] {
        let partition = change.partition
        let isNew = gapsByPartition[partition] == nil
        // Taken out while it changes, so its table of changes is not copied.
        var gap = gapsByPartition.removeValue(forKey: partition) ?? Gap(through: change.sequence, askedAt: now)
        gap.through = max(gap.through, change.sequence)
        if gap.ahead[change.sequence] != nil {
            gapsByPartition[partition] = gap
            duplicates += 1
            return []
        }
        if heldAside >= Self.maximumAhead {
            // A replay brings it again; even a dropped change proves the gap.
            droppedAhead += 1
        } else {
            gap.ahead[change.sequence] = (change, now)
            heldAside += 1
        }
        gapsByPartition[partition] = gap
        guard isNew else { return [] }
        gaps += 1
        return [.missing(partition: partition, from: acceptedSequence(of: partition) + 1)]
    }

    /// Moves kept-aside changes that now connect into the stream.
    private mutating func drainAhead(_ partition: Int, now: UInt64) {
        // Taken out while it changes, so its table of changes is not copied.
        guard var gap = gapsByPartition.removeValue(forKey: partition) else { return }
        // The replay is making progress: the retry timer runs from now.
        gap.askedAt = now
        while let next = gap.ahead.removeValue(forKey: acceptedSequence(of: partition) + 1) {
            heldAside -= 1
            accept(next.change, at: next.at)
        }
        // Not through yet: the replay is under way, so no new request (each replayed
        // change would otherwise look like a fresh gap); onTick repeats it if the
        // replay stalls.
        if acceptedSequence(of: partition) < gap.through { gapsByPartition[partition] = gap }
    }

    // MARK: - Batches

    /// The outstanding batch was written, rows and watermarks together.
    public mutating func onBatchCommitted(id: UInt64, now: UInt64) -> [Directive] {
        guard let current = outstanding, current.batch.id == id, current.retryAt == nil else { return [] }
        for (partition, sequence) in current.batch.watermarks {
            committed[partition] = max(committed[partition] ?? 0, sequence)
        }
        pendingChanges -= current.batch.changes
        outstanding = nil
        consecutiveFailures = 0
        lastError = nil
        return flushIfDue(now: now)
    }

    /// The outstanding batch could not be written. It is kept and written again,
    /// unchanged, after a back-off that doubles from the base up to the maximum.
    /// Changes arriving meanwhile go into later batches, never before it.
    public mutating func onBatchFailed(id: UInt64, error: String, now: UInt64) -> [Directive] {
        guard var current = outstanding, current.batch.id == id, current.retryAt == nil else { return [] }
        consecutiveFailures += 1
        lastError = error
        let at = now + backOff(failures: consecutiveFailures)
        current.retryAt = at
        outstanding = current
        return [.retryAt(at)]
    }

    /// The wait after `failures` failures in a row: base, 2·base, 4·base, … capped at the maximum.
    public func backOff(failures: Int) -> UInt64 {
        guard failures > 0 else { return 0 }
        let shift = UInt64(min(failures - 1, 63))
        if retryBaseMilliseconds > retryMaximumMilliseconds >> shift { return retryMaximumMilliseconds }
        return min(retryBaseMilliseconds << shift, retryMaximumMilliseconds)
    }

    /// Time passes: flushes a batch that became due, retries a failed one, re-asks a stalled replay.
    public mutating func onTick(now: UInt64) -> [Directive] {
        var directives: [Directive] = []
        for partition in gapsByPartition.keys.sorted() {
            guard var gap = gapsByPartition[partition],
                  now - min(now, gap.askedAt) >= Self.missingRetryMilliseconds else { continue }
            gap.askedAt = now
            gapsByPartition[partition] = gap
            directives.append(.missing(partition: partition, from: acceptedSequence(of: partition) + 1))
        }
        return directives + flushIfDue(now: now)
    }

    /// The mirror is stopping: from now on every pending change is due at once,
    /// whatever its age (a failed batch still waits for its back-off).
    public mutating func onDrain(now: UInt64) -> [Directive] {
        draining = true
        return flushIfDue(now: now)
    }

    /// Hands out the next batch when nothing is outstanding and the oldest segment is
    /// due (full, old enough, or draining), or retries the failed batch when its time came.
    private mutating func flushIfDue(now: UInt64) -> [Directive] {
        if var current = outstanding {
            guard let at = current.retryAt, now >= at else { return [] }
            current.retryAt = nil
            current.batch.attempt += 1
            outstanding = current
            return [.flush(current.batch)]
        }
        guard let first = segments.first else { return [] }
        let full = first.rows.count >= maximumBatch
        let old = now - min(now, first.oldestAt) >= maximumDelayMilliseconds
        guard full || old || draining else { return [] }
        segments.removeFirst()
        let batch = Batch(id: nextBatchID, attempt: 1, rows: first.rows, watermarks: first.watermarks, changes: first.changes,
                          replacing: first.replacing)
        nextBatchID += 1
        outstanding = Outstanding(batch: batch, oldestAt: first.oldestAt, retryAt: nil)
        return [.flush(batch)]
    }
}
