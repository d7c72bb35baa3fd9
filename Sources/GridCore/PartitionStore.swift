/// The entries of one partition, held in a unit's memory.
///
/// Every write takes the next sequence number, which also becomes the entry's
/// version, and returns the `Change` that replication will carry. The store also
/// keeps the partition's history labels (`lineage`: which epoch wrote which range of
/// sequences) and its memory of requests (`requests`), so that any replica can tell
/// whether another one's data is a prefix of its own and answer retried requests.
public struct PartitionStore: Sendable {
    public let partition: Int
    /// The epoch of the lease under which this unit holds the partition.
    public internal(set) var epoch: UInt64
    /// The sequence of the last change applied (0: none yet).
    public private(set) var sequence: UInt64
    public private(set) var entries: EntryTable
    /// The requests that changed the partition, per client.
    public private(set) var requests: RequestTable
    /// The epochs that wrote this history, oldest first: `start` is the first sequence
    /// written under `epoch`. Bounded; a snapshot or a load starts it again.
    public private(set) var lineage: [(epoch: UInt64, start: UInt64)]

    /// How many epochs the lineage remembers.
    public static let lineageCapacity = 32

    public init(partition: Int, epoch: UInt64, sequence: UInt64 = 0, entries: EntryTable = [:],
                requests: RequestTable = RequestTable(), lastEpoch: UInt64? = nil) {
        self.partition = partition
        self.epoch = epoch
        self.sequence = sequence
        self.entries = entries
        self.requests = requests
        // What wrote the data up to `sequence` is unknown but for its last label, when given
        // (a load from the database knows none: no history can be shown to be a prefix).
        if sequence > 0, let lastEpoch { lineage = [(lastEpoch, sequence)] } else { lineage = [] }
    }

    public var count: Int { entries.count }

    public func get(_ key: [UInt8]) -> Entry? { entries[key] }

    /// The epoch that wrote the change at `sequence` (its label), when the lineage knows.
    public func epoch(at target: UInt64) -> UInt64? {
        guard target > 0, target <= sequence, let first = lineage.first, target >= first.start else { return nil }
        return lineage.last { $0.start <= target }?.epoch
    }

    /// The label of the last change (0 when there is none).
    public var lastEpoch: UInt64 { lineage.last?.epoch ?? 0 }

    /// Whether this history contains the change `(epoch, sequence)`, and so everything
    /// before it: epochs are granted once, so one label at one sequence names one change.
    /// Sequence 0 (nothing) is in every history.
    public func contains(epoch labelled: UInt64, sequence target: UInt64) -> Bool {
        target == 0 || epoch(at: target) == labelled
    }

    /// Writes `value` under the next sequence.
    public mutating func put(_ key: [UInt8], _ value: [UInt8]) -> Change {
        sequence += 1
        entries.update(key, value, version: sequence)
        label(sequence, epoch)
        return Change(partition: partition, epoch: epoch, sequence: sequence, key: key, version: sequence, kind: .put, value: value)
    }

    /// Deletes the entry; nil (and no sequence taken) when there is none.
    public mutating func delete(_ key: [UInt8]) -> Change? {
        guard entries.remove(key) else { return nil }
        sequence += 1
        label(sequence, epoch)
        return Change(partition: partition, epoch: epoch, sequence: sequence, key: key, version: sequence, kind: .delete, value: [])
    }

    /// Remembers the request that produced the change at `sequence` (on the primary; a
    /// backup records it when it applies the change).
    public mutating func record(_ record: RequestRecord, at sequence: UInt64) {
        requests.record(record, at: sequence)
    }

    private mutating func label(_ sequence: UInt64, _ epoch: UInt64) {
        guard lineage.last?.epoch != epoch else { return }
        lineage.append((epoch, sequence))
        if lineage.count > Self.lineageCapacity { lineage.removeFirst(lineage.count - Self.lineageCapacity) }
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
        label(change.sequence, change.epoch)
        if let request = change.request { requests.record(request, at: change.sequence) }
    }

    /// Replaces the whole content with a snapshot taken at `sequence`, whose last change was
    /// written under `lastEpoch`.
    public mutating func replace(entries: EntryTable, sequence: UInt64, epoch: UInt64, lastEpoch: UInt64, requests: RequestTable) {
        self.entries = entries
        self.sequence = sequence
        self.epoch = epoch
        self.requests = requests
        lineage = sequence > 0 ? [(lastEpoch, sequence)] : []
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
