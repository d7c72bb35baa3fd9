/// What a unit holds of one partition, as it reports it (READY and REPORT).
public struct Holding: Sendable, Equatable {
    public var partition: Int
    public var role: Role
    public var epoch: UInt64
    /// The last sequence applied.
    public var sequence: UInt64
    /// For a backup: its primary confirmed it in sync (waits for it). Always true for a primary.
    /// Only a rebuilt partition table (after a broker restart) reads a backup's claim; a broker
    /// that placed the partition itself trusts nothing but the primary's report.
    public var inSync: Bool
    /// For a primary: the backups it counts as in sync.
    public var inSyncBackups: [String]

    public init(partition: Int, role: Role, epoch: UInt64, sequence: UInt64, inSync: Bool, inSyncBackups: [String] = []) {
        self.partition = partition
        self.role = role
        self.epoch = epoch
        self.sequence = sequence
        self.inSync = inSync
        self.inSyncBackups = inSyncBackups
    }
}

/// A lease with the partition's other members: what a unit needs to replicate.
public struct Assignment: Sendable, Equatable {
    public var lease: Lease
    /// The partition's primary (the unit itself for a primary lease).
    public var primary: String
    public var backups: [String]
    /// The backups the broker counts as in sync: a primary waits for them from the start.
    public var inSync: [String]
    /// Each backup's process (its incarnation): acknowledgements count only from that process.
    public var incarnations: [String: UInt64]
    /// For a primary lease granted without a replica to continue from (a first placement,
    /// or a partition lost): load the partition from the database first, and continue its
    /// sequence at this floor or above, so versions clients saw are never issued again.
    public var load: UInt64?
    /// For a primary lease being handed over (a move): the unit taking it over. The primary
    /// stops serving the partition and keeps it until the broker promotes that unit.
    public var handover: String?

    public init(lease: Lease, primary: String, backups: [String], inSync: [String] = [], incarnations: [String: UInt64] = [:], load: UInt64? = nil,
                handover: String? = nil) {
        self.handover = handover
        self.lease = lease
        self.primary = primary
        self.backups = backups
        self.inSync = inSync
        self.incarnations = incarnations
        self.load = load
    }

    /// The backups as a primary's acknowledgement tracker takes them.
    public var members: [AckTracker.Member] {
        backups.map { AckTracker.Member(name: $0, incarnation: incarnations[$0] ?? 0, inSync: inSync.contains($0)) }
    }
}
