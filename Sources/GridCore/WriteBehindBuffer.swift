/// The mirror's core for one section: decides which changes go to the database,
/// in which batch and when (DESIGN.md section 6).
///
/// Pure. The mirror shell feeds it every partition's changes (PUB and replays), the
/// primaries' commit indexes, ticks it, reports how each batch ended, and carries out
/// the directives:
/// - `flush(batch)`: write the batch's rows AND its watermarks in one transaction,
///   then report `onBatchCommitted` or `onBatchFailed` with the batch's id.
/// - `retryAt(time)`: the failed batch is written again at the first tick at or after `time`.
/// - `missing(partition:, from:, dataEpoch:)`: ask the partition's primary for its changes
///   from `from` (it answers with a snapshot when its log does not reach back, or when
///   `dataEpoch`, the label of the last change accepted, is not in its history).
///
/// Only committed changes are written. A primary commits a change once every backup it
/// waits for has it, and announces its commit index (COMMIT, and with every replay and
/// snapshot); changes wait here until then. Committed changes are part of every later
/// primary's history (only in-sync backups are promoted), so the database never holds a
/// change a failover takes back, and its history is a prefix of the grid's.
///
/// Epochs: each message carries the epoch of the lease it was sent under. A newer epoch
/// means a new primary: what waits uncommitted from the old one may have been forked off,
/// so it is dropped, and the new primary is asked for its changes after the last one
/// accepted; it replays them when they continue its history, or sends a snapshot (which
/// replaces the partition's rows) when they do not (a partition lost and reloaded). An
/// older epoch is a deposed primary's late message: ignored.
///
/// Why nothing is lost and nothing is applied twice: a batch carries, per partition, the
/// highest sequence it covers (with its epoch label), and the database stores it with the
/// rows. Batches are cut from the accepted stream in order and written one at a time, so a
/// stored watermark always means "every change up to here is in the database, none after".
/// A restarted mirror builds a new buffer from the stored watermarks and asks the primaries
/// for the rest; anything at or below a watermark is ignored.
public struct WriteBehindBuffer: Sendable {
    /// How far the database holds a partition: the last sequence written and the epoch that
    /// wrote it (what the next catch-up names as `dataEpoch`).
    public struct Watermark: Sendable, Equatable, Hashable {
        public var sequence: UInt64
        public var epoch: UInt64

        public init(sequence: UInt64, epoch: UInt64 = 0) {
            self.sequence = sequence
            self.epoch = epoch
        }
    }

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
        public var watermarks: [Int: Watermark]
        /// How many changes the batch carries, coalesced ones included.
        public var changes: Int
        /// Partitions a snapshot replaced: every stored row of these partitions is removed
        /// first, in the same transaction, and the batch's rows then hold their whole content.
        public var replacing: Set<Int>

        public init(id: UInt64, attempt: Int, rows: [Row], watermarks: [Int: Watermark], changes: Int, replacing: Set<Int> = []) {
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
        case missing(partition: Int, from: UInt64, dataEpoch: UInt64)
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
        var watermarks: [Int: Watermark] = [:]
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

    /// A whole partition from its primary, waiting until its sequence is committed.
    private struct PendingSnapshot: Sendable {
        var sequence: UInt64
        var lastEpoch: UInt64
        var entries: [(key: [UInt8], entry: Entry)]
        var at: UInt64
    }

    /// One partition's stream.
    private struct Stream: Sendable {
        /// The newest lease epoch heard of (0: none yet).
        var epoch: UInt64 = 0
        /// The primary's commit index under `epoch`.
        var commit: UInt64 = 0
        /// The last change accepted (in a segment, in the outstanding batch, or written).
        var accepted: Watermark
        /// Changes received under `epoch` beyond `accepted`, waiting to be committed or to connect.
        var held: [UInt64: (change: Change, at: UInt64)] = [:]
        var snapshot: PendingSnapshot?
        /// When the replay was last asked for (nil: nothing is missing).
        var askedAt: UInt64?
    }

    public let section: String
    public let maximumBatch: Int
    public let maximumDelayMilliseconds: UInt64
    public let retryBaseMilliseconds: UInt64
    public let retryMaximumMilliseconds: UInt64

    /// How long a missing stretch may make no progress before the replay is asked for again.
    public static let missingRetryMilliseconds: UInt64 = 1_000
    /// How many changes may wait uncommitted or beyond gaps (all partitions together) before
    /// further ones are dropped (a replay brings them again).
    public static let maximumHeld = 100_000

    /// Per partition, what the database holds (committed).
    private var committed: [Int: Watermark]
    private var streams: [Int: Stream] = [:]
    private var segments: [Segment] = []
    private var outstanding: Outstanding?
    private var nextBatchID: UInt64 = 1
    private var draining = false

    /// Changes ignored because they were at or below what was already accepted or held.
    public private(set) var duplicates: UInt64 = 0
    /// Messages of a deposed primary ignored, and uncommitted changes dropped at an epoch change.
    public private(set) var discarded: UInt64 = 0
    /// Missing stretches detected (each reported once; repeats after no progress are not counted).
    public private(set) var gaps: UInt64 = 0
    /// Changes dropped because `maximumHeld` were already waiting.
    public private(set) var droppedAhead: UInt64 = 0
    /// Failures in a row of the current batch; 0 after a success.
    public private(set) var consecutiveFailures = 0
    /// The message of the last failure, until the next success.
    public private(set) var lastError: String?
    /// Accepted changes not yet committed to the database: in the outstanding batch or
    /// pending, COUNTING coalesced ones. Held changes are not accepted yet; see `heldAside`.
    public private(set) var pendingChanges = 0
    /// Changes received and not accepted yet (uncommitted, or beyond a gap).
    public private(set) var heldAside = 0

    /// - Parameters:
    ///   - watermarks: per partition, what the database already holds (read at start).
    public init(section: String, maximumBatch: Int, maximumDelayMilliseconds: UInt64, retryBaseMilliseconds: UInt64 = 100,
                retryMaximumMilliseconds: UInt64 = 10_000, watermarks: [Int: Watermark] = [:]) {
        precondition(maximumBatch > 0, "a batch holds at least one row")
        self.section = section
        self.maximumBatch = maximumBatch
        self.maximumDelayMilliseconds = maximumDelayMilliseconds
        self.retryBaseMilliseconds = retryBaseMilliseconds
        self.retryMaximumMilliseconds = max(retryMaximumMilliseconds, retryBaseMilliseconds)
        committed = watermarks
        for (partition, watermark) in watermarks { streams[partition] = Stream(accepted: watermark) }
    }

    // MARK: - Figures

    /// The sequence of `partition` the database holds (0: nothing yet).
    public func watermark(of partition: Int) -> UInt64 { committed[partition]?.sequence ?? 0 }

    /// Every partition's committed watermark, as the database holds them.
    public var watermarks: [Int: Watermark] { committed }

    /// The highest sequence of `partition` accepted so far.
    public func acceptedSequence(of partition: Int) -> UInt64 { streams[partition]?.accepted.sequence ?? 0 }

    /// The newest lease epoch heard of for `partition`.
    public func epoch(of partition: Int) -> UInt64 { streams[partition]?.epoch ?? 0 }

    /// A batch is being written now (not counting a failed one waiting for its retry).
    public var inFlight: Bool { outstanding.map { $0.retryAt == nil } ?? false }

    /// When the failed batch is written again, if one waits.
    public var retryingAt: UInt64? { outstanding?.retryAt }

    /// Distinct rows not yet committed (the outstanding batch's plus the pending ones).
    public var pendingRows: Int { (outstanding?.batch.rows.count ?? 0) + segments.reduce(0) { $0 + $1.rows.count } }

    /// How long the oldest change not yet in the database has waited (0 when none wait).
    public func oldestPendingAge(now: UInt64) -> UInt64 {
        var oldest = outstanding?.oldestAt ?? segments.first?.oldestAt
        for stream in streams.values {
            for entry in stream.held.values { oldest = min(oldest ?? entry.at, entry.at) }
            if let snapshot = stream.snapshot { oldest = min(oldest ?? snapshot.at, snapshot.at) }
        }
        guard let oldest else { return 0 }
        return now - min(now, oldest)
    }

    /// Partitions with a missing stretch and the sequence they wait for.
    public var openGaps: [Int: UInt64] {
        var result: [Int: UInt64] = [:]
        for (partition, stream) in streams where stream.askedAt != nil { result[partition] = stream.accepted.sequence + 1 }
        return result
    }

    /// Nothing accepted is unwritten, and nothing received waits: the database holds all of it.
    public var isIdle: Bool {
        outstanding == nil && segments.isEmpty && streams.values.allSatisfy { $0.held.isEmpty && $0.snapshot == nil && $0.askedAt == nil }
    }

    // MARK: - The stream

    /// A change from a primary's PUB socket: its own epoch is the lease it was sent under.
    public mutating func onChange(_ change: Change, now: UInt64) -> [Directive] {
        onChanges([change], carrier: change.epoch, committed: nil, now: now)
    }

    /// Changes from a replay (`carrier`: the replying primary's epoch; the changes keep their
    /// own labels), with its commit index then.
    public mutating func onChanges(_ changes: [Change], carrier: UInt64, committed commit: UInt64?, now: UInt64) -> [Directive] {
        guard let partition = changes.first?.partition else { return [] }
        var directives: [Directive] = []
        guard admit(partition, carrier: carrier, now: now, &directives) else {
            discarded += UInt64(changes.count)
            return directives
        }
        if let commit { streams[partition]!.commit = max(streams[partition]!.commit, commit) }
        // One at a time: what connects is taken before the next is held, so a long replay
        // never fills the held changes with what it is about to accept.
        for change in changes where change.partition == partition {
            hold(change, now: now)
            directives += advance(partition, now: now)
        }
        return directives + flushIfDue(now: now)
    }

    /// A primary's commit index: every change of `partition` up to `committed` is on every
    /// backup it waits for.
    public mutating func onCommit(partition: Int, epoch: UInt64, committed commit: UInt64, now: UInt64) -> [Directive] {
        var directives: [Directive] = []
        guard admit(partition, carrier: epoch, now: now, &directives) else { return directives }
        streams[partition]!.commit = max(streams[partition]!.commit, commit)
        directives += advance(partition, now: now)
        return directives + flushIfDue(now: now)
    }

    /// The grid's table says `partition`'s primary leads under `epoch` (the mirror's status
    /// reads): a newer epoch than heard of means a failover whose messages were missed.
    public mutating func onEpoch(partition: Int, epoch: UInt64, now: UInt64) -> [Directive] {
        var directives: [Directive] = []
        _ = admit(partition, carrier: epoch, now: now, &directives)
        return directives
    }

    /// A whole partition as its primary held it at `sequence` (its last change labelled
    /// `lastEpoch`), with the primary's commit index then. Once committed it replaces the
    /// partition in the database: keys missing from it were deleted meanwhile (or the
    /// partition was lost and reloaded). It goes into a segment of its own, after
    /// everything accepted before it, and changes after `sequence` continue the stream.
    public mutating func onSnapshot(partition: Int, epoch: UInt64, sequence: UInt64, lastEpoch: UInt64, committed commit: UInt64,
                                    entries: [(key: [UInt8], entry: Entry)], now: UInt64) -> [Directive] {
        var directives: [Directive] = []
        guard admit(partition, carrier: epoch, now: now, &directives) else {
            discarded += 1
            return directives
        }
        guard sequence > streams[partition]!.accepted.sequence else {
            duplicates += 1
            return directives
        }
        if let previous = streams[partition]!.snapshot, previous.sequence >= sequence { return directives }
        streams[partition]!.snapshot = PendingSnapshot(sequence: sequence, lastEpoch: lastEpoch, entries: entries, at: now)
        streams[partition]!.commit = max(streams[partition]!.commit, commit)
        directives += advance(partition, now: now)
        return directives + flushIfDue(now: now)
    }

    /// Takes a message of `carrier` epoch in: false for a deposed primary's. A newer epoch
    /// drops what waits uncommitted and asks the new primary for what follows the accepted.
    private mutating func admit(_ partition: Int, carrier: UInt64, now: UInt64, _ directives: inout [Directive]) -> Bool {
        var stream = streams.removeValue(forKey: partition) ?? Stream(accepted: Watermark(sequence: 0))
        defer { streams[partition] = stream }
        if carrier < stream.epoch { return false }
        if carrier > stream.epoch {
            let dropped = !stream.held.isEmpty || stream.snapshot != nil
            discarded += UInt64(stream.held.count)
            heldAside -= stream.held.count
            stream.held = [:]
            stream.snapshot = nil
            stream.epoch = carrier
            stream.commit = 0
            if dropped {
                // What waited may belong to the new history too: the new primary says what
                // follows the accepted (a replay, or a snapshot when ours is not its history).
                // Without anything dropped, a gap shows itself once the new commit index passes.
                if stream.askedAt == nil { gaps += 1 }
                stream.askedAt = now
                directives.append(.missing(partition: partition, from: stream.accepted.sequence + 1, dataEpoch: stream.accepted.epoch))
            }
        }
        return true
    }

    private mutating func hold(_ change: Change, now: UInt64) {
        let partition = change.partition
        guard change.sequence > streams[partition]!.accepted.sequence, streams[partition]!.held[change.sequence] == nil else {
            duplicates += 1
            return
        }
        // The change the stream waits for is always taken: it may be what unblocks the rest.
        guard heldAside < Self.maximumHeld || change.sequence == streams[partition]!.accepted.sequence + 1 else {
            droppedAhead += 1
            return
        }
        streams[partition]!.held[change.sequence] = (change, now)
        heldAside += 1
    }

    /// Accepts what is committed and connects; notices what is committed but missing.
    private mutating func advance(_ partition: Int, now: UInt64) -> [Directive] {
        guard var stream = streams.removeValue(forKey: partition) else { return [] }
        defer { streams[partition] = stream }
        var progressed = false
        if let snapshot = stream.snapshot, snapshot.sequence <= stream.commit {
            stream.snapshot = nil
            acceptSnapshot(partition, snapshot)
            stream.accepted = Watermark(sequence: snapshot.sequence, epoch: snapshot.lastEpoch)
            for sequence in stream.held.keys where sequence <= snapshot.sequence {
                stream.held[sequence] = nil
                heldAside -= 1
            }
            progressed = true
        }
        if stream.snapshot == nil {
            while stream.accepted.sequence < stream.commit, let next = stream.held.removeValue(forKey: stream.accepted.sequence + 1) {
                heldAside -= 1
                accept(next.change, at: next.at)
                stream.accepted = Watermark(sequence: next.change.sequence, epoch: next.change.epoch)
                progressed = true
            }
        }
        let missing = stream.snapshot == nil && stream.accepted.sequence < stream.commit
        if !missing {
            stream.askedAt = nil
            return []
        }
        if stream.askedAt == nil {
            gaps += 1
            stream.askedAt = now
            return [.missing(partition: partition, from: stream.accepted.sequence + 1, dataEpoch: stream.accepted.epoch)]
        }
        // A replay under way: its progress restarts the retry timer.
        if progressed { stream.askedAt = now }
        return []
    }

    private mutating func accept(_ change: Change, at time: UInt64) {
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
        segments[open].watermarks[change.partition] = Watermark(sequence: change.sequence, epoch: change.epoch)
        segments[open].changes += 1
        segments[open].oldestAt = min(segments[open].oldestAt, time)
    }

    private mutating func acceptSnapshot(_ partition: Int, _ snapshot: PendingSnapshot) {
        var segment = Segment(oldestAt: snapshot.at)
        segment.replacing = [partition]
        segment.rows.reserveCapacity(snapshot.entries.count)
        for (key, entry) in snapshot.entries {
            let rowKey = RowKey(partition: partition, key: key)
            if let position = segment.index[rowKey] {
                segment.rows[position].value = entry.value
                segment.rows[position].version = entry.version
                continue
            }
            segment.index[rowKey] = segment.rows.count
            segment.rows.append(Row(section: section, partition: partition, key: key, value: entry.value, version: entry.version))
        }
        segment.watermarks[partition] = Watermark(sequence: snapshot.sequence, epoch: snapshot.lastEpoch)
        // Counted as one change: it is one step of the partition's stream, whatever its size.
        segment.changes = 1
        segments.append(segment)
        pendingChanges += 1
    }

    // MARK: - Batches

    /// The outstanding batch was written, rows and watermarks together.
    public mutating func onBatchCommitted(id: UInt64, now: UInt64) -> [Directive] {
        guard let current = outstanding, current.batch.id == id, current.retryAt == nil else { return [] }
        for (partition, watermark) in current.batch.watermarks {
            if current.batch.replacing.contains(partition) || watermark.sequence >= committed[partition]?.sequence ?? 0 {
                committed[partition] = watermark
            }
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
        for partition in streams.keys.sorted() {
            guard let askedAt = streams[partition]!.askedAt, now - min(now, askedAt) >= Self.missingRetryMilliseconds else { continue }
            streams[partition]!.askedAt = now
            let accepted = streams[partition]!.accepted
            directives.append(.missing(partition: partition, from: accepted.sequence + 1, dataEpoch: accepted.epoch))
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
