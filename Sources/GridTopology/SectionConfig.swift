import GridCore

/// One section of the grid as the topology declares it: how many units host
/// it, how its keys map to partitions, and how partitions are replicated.
///
/// Everything the broker, the units and the deployment manager need to agree
/// on about a section lives here, so they all derive unit names, partition
/// counts and placement from the same values.
public struct SectionConfig: Sendable, Equatable {
    /// The section's name (`customer`); also its service name on the wire.
    public var name: String
    /// How many units host the section's partitions.
    public var units: Int
    /// How a key maps to a partition (hash by default, or declared integer ranges).
    public var partitioner: Partitioner
    /// How many backups each partition has besides its primary.
    public var backups: Int
    /// Whether a primary waits for its backups before replying.
    public var mode: BackupMode
    /// How often an `async` section flushes changes to its backups (the seeds'
    /// "replication frequency"); also the cadence of other periodic replication work.
    public var replicationIntervalMilliseconds: Int
    /// Scaling by load (nil: the unit count changes only by `spacegrid scale`).
    public var autoscale: AutoscaleConfig?
    /// The hosts the section's units run on, round robin (`Topology.host(ofUnit:)`); empty
    /// without the topology's `hosts`.
    public var hosts: [String] = []

    /// Accepted unit counts.
    public static let unitsRange = 1...64
    /// Accepted partition counts (hash) and range counts (range).
    public static let partitionsRange = 1...65_536
    /// Accepted backup counts.
    public static let backupsRange = 0...3
    /// Backups per partition when the topology names none (capped at `units - 1`).
    public static let defaultBackups = 1
    /// The backup mode when the topology names none: no acknowledged write is lost.
    public static let defaultMode = BackupMode.sync
    /// The replication interval when the topology names none.
    public static let defaultReplicationIntervalMilliseconds = 50
    /// Accepted replication intervals, from 1ms to 60s.
    public static let replicationIntervalMillisecondsRange = 1...60_000

    public init(
        name: String,
        units: Int,
        partitioner: Partitioner = .hash(partitions: Partitioner.defaultPartitionCount),
        backups: Int? = nil,
        mode: BackupMode = SectionConfig.defaultMode,
        replicationIntervalMilliseconds: Int = SectionConfig.defaultReplicationIntervalMilliseconds,
        autoscale: AutoscaleConfig? = nil
    ) {
        self.autoscale = autoscale
        self.name = name
        self.units = units
        self.partitioner = partitioner
        self.backups = backups ?? SectionConfig.defaultBackups(units: units)
        self.mode = mode
        self.replicationIntervalMilliseconds = replicationIntervalMilliseconds
    }

    /// The backups a section gets when the topology does not say: one, or none
    /// for a single-unit section, since a backup never sits on its primary's unit.
    public static func defaultBackups(units: Int) -> Int {
        max(0, min(defaultBackups, units - 1))
    }

    /// The names of the section's units: `customer-1` ... `customer-N`.
    ///
    /// Units are named, not numbered by the order they connect, so a restarted
    /// unit comes back as the same unit and the broker can tell it apart.
    public var unitNames: [String] {
        units > 0 ? (1...units).map { "\(name)-\($0)" } : []
    }

    /// How many partitions the section has.
    public var partitionCount: Int {
        partitioner.partitionCount
    }
}
