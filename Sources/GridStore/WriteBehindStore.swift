import GridCore

/// How far the database holds one partition: what `watermarks(section:)` reads back.
///
/// `sequence` and `epoch` are the batch's `WriteBehindBuffer.Watermark`: the last change
/// written and the label of the epoch that wrote it (what the mirror's next catch-up names
/// as `dataEpoch`). `sealed` says the unit that led the partition stopped politely with the
/// database holding everything it led, up to exactly this sequence: a cold start may then
/// continue the partition's versions from it instead of jumping above versions the grid
/// may have used without the database seeing them. Any later commit of the partition clears it.
public struct StoredWatermark: Sendable, Equatable {
    public var sequence: UInt64
    public var epoch: UInt64
    public var sealed: Bool

    public init(sequence: UInt64, epoch: UInt64, sealed: Bool) {
        self.sequence = sequence
        self.epoch = epoch
        self.sealed = sealed
    }
}

/// Where the mirror persists write-behind batches, and where a cold start reads from
/// (DESIGN.md section 6).
///
/// Used from one thread, the mirror's (or a unit's during its cold start): calls
/// block until the database answers, so never call them on a Swift concurrency
/// pool thread.
public protocol WriteBehindStore: AnyObject {
    /// Per partition, the last watermark stored for `section` (partitions never written are absent).
    func watermarks(section: String) throws(StoreError) -> [Int: StoredWatermark]

    /// Writes the batch in ONE transaction, all or nothing: removes every row of the
    /// partitions in `batch.replacing`, upserts its rows (a nil value deletes the key) and
    /// stores each partition's watermark from `batch.watermarks`, unsealed.
    ///
    /// A partition in `batch.replacing` takes the batch's watermark exactly, even a lower
    /// one: a snapshot's rows are the partition's whole content, so its watermark is what
    /// they hold, whatever was stored before (a partition lost and reloaded jumps its
    /// sequence by 2^32, and its epochs start a new history). For the others the
    /// watermark never goes backwards: a replayed batch's lower sequence is ignored, and
    /// when the batch's sequence is taken (at or above the stored one, as the buffer itself
    /// decides) its epoch goes with it. Either way the seal is cleared: rows changed after
    /// the seal promised they would not (a partition in `replacing` without a watermark in
    /// the batch, never sent by the buffer, keeps its stored one, unsealed too).
    /// Every row must belong to `section`.
    func commit(_ batch: WriteBehindBuffer.Batch, section: String) throws(StoreError)

    /// Seals, in ONE transaction, each given partition of `section` whose stored sequence
    /// equals the given one, and returns the partitions it sealed (already sealed ones at
    /// that sequence included). A partition stored at another sequence, or never written,
    /// is left as it is: the database does not hold exactly what its unit led.
    ///
    /// A unit stopping politely asks for this once the database holds everything it led;
    /// the next cold start then continues those partitions' versions exactly instead of
    /// jumping above them. Any later commit of a partition clears its seal.
    func seal(section: String, partitions: [Int: UInt64]) throws(StoreError) -> Set<Int>

    /// Everything stored for one partition of `section`, in key order (for a cold start).
    func rows(section: String, partition: Int) throws(StoreError) -> [(key: [UInt8], value: [UInt8], version: UInt64)]

    /// Streams every stored row of `section` whose partition is in `partitions` (every
    /// row when nil), in no particular order: a cold start's one pass over the table.
    func scan(section: String, partitions: Set<Int>?,
              _ each: (_ partition: Int, _ key: [UInt8], _ value: [UInt8], _ version: UInt64) -> Void) throws(StoreError)

    /// The partitions of `section` that have at least one row.
    func partitionsWithData(section: String) throws(StoreError) -> Set<Int>

    /// How many rows `section` holds.
    func count(section: String) throws(StoreError) -> Int
}

/// The table of `section` in either backend (`"section_<name>"`, quoted); refuses names
/// the topology would refuse. The prefix keeps them clear of the stores' own tables.
func sectionTable(for section: String) throws(StoreError) -> String {
    guard isValidSectionName(section) else {
        throw StoreError(.badSection, "'\(section)' is not a section name (^[a-z][a-z0-9_-]{0,31}$)")
    }
    // Valid names hold no quote; quoting still keeps '-' and keywords harmless.
    return "\"section_\(section)\""
}

/// Section names as the topology allows them: `^[a-z][a-z0-9_-]{0,31}$`.
func isValidSectionName(_ name: String) -> Bool {
    let bytes = Array(name.utf8)
    guard let first = bytes.first, bytes.count <= 32, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else {
        return false
    }
    return bytes.dropFirst().allSatisfy { byte in
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }
}

/// A row's identity within a section table: both backends key rows by `(partition, key)`.
private struct RowKey: Hashable {
    var partition: Int
    var key: [UInt8]
}

/// The last state of each (partition, key), split into puts and deletes, in the order
/// the keys first appear. A batch from `WriteBehindBuffer` holds one row per key already;
/// this keeps any other caller's batch meaning what it says in order (and one statement
/// may not upsert the same row twice).
func lastStates(_ rows: [WriteBehindBuffer.Row]) -> (puts: [WriteBehindBuffer.Row], deletes: [WriteBehindBuffer.Row]) {
    var last: [RowKey: Int] = [:]
    last.reserveCapacity(rows.count)
    var unique: [WriteBehindBuffer.Row] = []
    unique.reserveCapacity(rows.count)
    for row in rows {
        let rowKey = RowKey(partition: row.partition, key: row.key)
        if let index = last[rowKey] {
            unique[index] = row
        } else {
            last[rowKey] = unique.count
            unique.append(row)
        }
    }
    var puts: [WriteBehindBuffer.Row] = [], deletes: [WriteBehindBuffer.Row] = []
    puts.reserveCapacity(unique.count)
    for row in unique {
        if row.value == nil { deletes.append(row) } else { puts.append(row) }
    }
    return (puts, deletes)
}
