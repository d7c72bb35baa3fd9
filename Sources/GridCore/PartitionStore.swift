/// The entries of one partition, held in a unit's memory.
///
/// Every write takes the next sequence number, which also becomes the entry's
/// version, and returns the `Change` that replication will carry.
public struct PartitionStore: Sendable {
    public let partition: Int
    /// The epoch of the lease under which this unit holds the partition.
    public internal(set) var epoch: UInt64
    /// The sequence of the last change applied (0: none yet).
    public private(set) var sequence: UInt64
    public private(set) var entries: EntryTable

    public init(partition: Int, epoch: UInt64, sequence: UInt64 = 0, entries: EntryTable = [:]) {
        self.partition = partition
        self.epoch = epoch
        self.sequence = sequence
        self.entries = entries
    }

    public var count: Int { entries.count }

    public func get(_ key: [UInt8]) -> Entry? { entries[key] }

    /// Writes `value` under the next sequence.
    public mutating func put(_ key: [UInt8], _ value: [UInt8]) -> Change {
        sequence += 1
        entries.update(key, value, version: sequence)
        return Change(partition: partition, epoch: epoch, sequence: sequence, key: key, version: sequence, kind: .put, value: value)
    }

    /// Deletes the entry; nil (and no sequence taken) when there is none.
    public mutating func delete(_ key: [UInt8]) -> Change? {
        guard entries.remove(key) else { return nil }
        sequence += 1
        return Change(partition: partition, epoch: epoch, sequence: sequence, key: key, version: sequence, kind: .delete, value: [])
    }

    // MARK: - Replicas

    /// Applies a change a primary made (on a backup). The caller checks order:
    /// `change.sequence` must be the next one.
    public mutating func apply(_ change: Change) {
        switch change.kind {
        case .put: entries.update(change.key, change.value, version: change.version)
        case .delete: entries.remove(change.key)
        }
        sequence = change.sequence
    }

    /// Replaces the whole content with a snapshot taken at `sequence`.
    public mutating func replace(entries: EntryTable, sequence: UInt64, epoch: UInt64) {
        self.entries = entries
        self.sequence = sequence
        self.epoch = epoch
    }

    /// Writes `value` only when the entry's version is `expected` (0: only when absent).
    public mutating func compareAndSet(_ key: [UInt8], expected: UInt64, _ value: [UInt8]) -> Result<Change, GridError> {
        let actual = entries.version(of: key) ?? 0
        guard actual == expected else {
            return .failure(actual == 0 ? .notFound(key) : .versionConflict(expected: expected, actual: actual))
        }
        return .success(put(key, value))
    }
}
