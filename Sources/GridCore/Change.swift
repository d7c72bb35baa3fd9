/// One entry of a partition: its value (bytes; JSON by convention) and version.
public struct Entry: Sendable, Equatable {
    public var value: [UInt8]
    /// The partition sequence of the write that produced this value. It grows on
    /// every write of the key and is never reused in the partition, even after a
    /// delete, so `cas` cannot be fooled by a delete and re-create (no ABA).
    public var version: UInt64

    public init(value: [UInt8], version: UInt64) {
        self.value = value
        self.version = version
    }
}

/// A change a primary applied to a partition: what replication, invalidation
/// events and write-behind carry (DESIGN.md section 5).
public struct Change: Sendable, Equatable {
    public enum Kind: UInt8, Sendable, Equatable {
        case put = 1
        case delete = 2
    }

    public var partition: Int
    /// The epoch under which the primary applied it. It stays with the change for good
    /// (a promoted backup keeps its predecessor's labels), so (epoch, sequence) names one
    /// change of one history: epochs are granted once.
    public var epoch: UInt64
    /// The partition's gap-free change number.
    public var sequence: UInt64
    public var key: [UInt8]
    /// The entry's version after the change (equal to `sequence`).
    public var version: UInt64
    public var kind: Kind
    /// The new value; empty for a delete.
    public var value: [UInt8]
    /// The request that made the change and its reply, when the request carried an id:
    /// backups record it so a retry finds its first reply on any replica.
    public var request: RequestRecord?

    public init(partition: Int, epoch: UInt64, sequence: UInt64, key: [UInt8], version: UInt64, kind: Kind, value: [UInt8], request: RequestRecord? = nil) {
        self.request = request
        self.partition = partition
        self.epoch = epoch
        self.sequence = sequence
        self.key = key
        self.version = version
        self.kind = kind
        self.value = value
    }
}
