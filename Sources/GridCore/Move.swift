/// A partition moving between units while the grid serves (DESIGN.md section 4,
/// rebalancing): the target joins as an extra backup, catches up, and then either
/// takes leadership over (a primary move) or replaces the source's copy (a backup move).
public struct Move: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// The source leads the partition; the target is to lead it.
        case primary
        /// The source backs the partition up; the target is to back it up instead.
        case backup
    }

    public var partition: Int
    public var kind: Kind
    public var from: String
    public var to: String
    /// When the move started (the table's clock, milliseconds).
    public var since: UInt64

    public init(partition: Int, kind: Kind, from: String, to: String, since: UInt64 = 0) {
        self.partition = partition
        self.kind = kind
        self.from = from
        self.to = to
        self.since = since
    }
}

/// A primary handing its partition over: it was told to stop serving it (and keep it);
/// `to` is promoted under `epoch` once the primary's report shows it applied that.
public struct Handover: Sendable, Equatable {
    public var to: String
    public var epoch: UInt64

    public init(to: String, epoch: UInt64) {
        self.to = to
        self.epoch = epoch
    }
}
