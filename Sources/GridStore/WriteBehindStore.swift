import GridCore

/// Where the mirror persists write-behind batches, and where a cold start reads from
/// (DESIGN.md section 6).
///
/// Used from one thread, the mirror's (or a unit's during its cold start): calls
/// block until the database answers, so never call them on a Swift concurrency
/// pool thread.
public protocol WriteBehindStore: AnyObject {
    /// Per partition, the last sequence stored for `section` (partitions never written are absent).
    func watermarks(section: String) throws(StoreError) -> [Int: UInt64]

    /// Writes the batch in ONE transaction, all or nothing: removes every row of the
    /// partitions in `batch.replacing`, upserts its rows (a nil value deletes the key) and raises the section's watermarks to the batch's
    /// (a lower watermark than the stored one is ignored: they never go backwards).
    /// Every row must belong to `section`.
    func commit(_ batch: WriteBehindBuffer.Batch, section: String) throws(StoreError)

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
