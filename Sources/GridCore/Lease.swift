/// The role a unit plays for one partition.
public enum Role: UInt8, Sendable, Equatable {
    /// Accepts writes for the partition.
    case primary = 1
    /// Holds a replica and follows the primary's changes.
    case backup = 2
}

/// A unit's right to a partition, granted by the broker's partition table.
public struct Lease: Sendable, Equatable, Hashable {
    public var partition: Int
    public var epoch: UInt64
    public var role: Role

    public init(partition: Int, epoch: UInt64, role: Role) {
        self.partition = partition
        self.epoch = epoch
        self.role = role
    }
}

/// Where the broker routed a request: the partition and the epoch of its primary.
/// A unit serves it only when it leads that partition under exactly that epoch.
public struct Route: Sendable, Equatable {
    public var partition: Int
    public var epoch: UInt64

    public init(partition: Int, epoch: UInt64) {
        self.partition = partition
        self.epoch = epoch
    }
}
