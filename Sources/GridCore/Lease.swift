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

/// How long a unit's lease lasts after the stamp the broker echoed: shorter than the
/// broker's failure detection (`expiry`, heartbeat × liveness) by a fifth, at least 10 ms,
/// the margin for the two clocks' drift. The broker promotes another unit only after
/// `expiry` of silence, so a unit it declared dead has stopped serving before then.
public func leaseMilliseconds(expiry: Int) -> Int {
    max(1, expiry - max(expiry / 5, 10))
}
