import GridCore

/// Where the messaging grid listens and how it judges units alive.
///
/// Every process of a grid reads the same topology, so the broker binds these
/// endpoints and units and clients connect to them; nothing else needs to be
/// configured for the processes to find each other. Endpoints may name any
/// host, so the same topology runs on one machine or across several.
public struct BrokerConfig: Sendable, Equatable {
    /// Where clients connect (the broker's client-facing ROUTER).
    public var clients: String
    /// Where units connect (the broker's unit-facing ROUTER).
    public var units: String
    /// Where the broker publishes grid events: partition table changes, joins, failovers (PUB).
    public var events: String
    /// How often the broker and units exchange heartbeats.
    public var heartbeatMilliseconds: Int
    /// How many heartbeats in a row a unit may miss before the broker declares it dead.
    public var liveness: Int
    /// The largest message the grid accepts; larger ones are refused, never buffered.
    public var maxMessageBytes: Int
    /// How long a partition whose last in-sync replica died waits for that replica to come
    /// back (a paused process) before it starts again from the database.
    public var lossGraceMilliseconds: Int

    /// The heartbeat when the topology names none: failure detection well
    /// under a second on loopback with the default liveness.
    public static let defaultHeartbeatMilliseconds = 100
    /// The heartbeat of a topology that declares `hosts` and names none: a LAN's delays and a
    /// retransmitted segment (Linux waits at least 200 ms) must not look like a dead unit.
    public static let lanHeartbeatMilliseconds = 250
    /// The liveness of a topology that declares `hosts` and names none: a unit is dead after
    /// a second of silence, its lease ends 200 ms before.
    public static let lanLiveness = 4
    /// Accepted heartbeats, from 1ms to 60s.
    public static let heartbeatMillisecondsRange = 1...60_000
    /// Missed heartbeats before a unit is dead when the topology names none.
    public static let defaultLiveness = 3
    /// Accepted liveness: at least 2 so one late heartbeat is not a failover.
    public static let livenessRange = 2...20
    /// The message size limit when the topology names none: 1 MiB.
    public static let defaultMaxMessageBytes = 1_048_576
    /// Accepted message size limits: 1 KiB to 256 MiB.
    public static let maxMessageBytesRange = 1024...268_435_456
    /// The loss grace when the topology names none.
    public static let defaultLossGraceMilliseconds = 3_000
    /// The loss grace of a topology that declares `hosts` and names none: a host cut off from
    /// the broker (a switch rebooting, a cable) comes back with what it acknowledged far more
    /// often than it is gone for good, and its partitions wait half a minute for it.
    public static let lanLossGraceMilliseconds = 30_000
    /// Accepted loss graces, from 100ms to 10 minutes.
    public static let lossGraceMillisecondsRange = 100...600_000

    public init(
        clients: String,
        units: String,
        events: String,
        heartbeatMilliseconds: Int = BrokerConfig.defaultHeartbeatMilliseconds,
        liveness: Int = BrokerConfig.defaultLiveness,
        maxMessageBytes: Int = BrokerConfig.defaultMaxMessageBytes,
        lossGraceMilliseconds: Int = BrokerConfig.defaultLossGraceMilliseconds
    ) {
        self.lossGraceMilliseconds = lossGraceMilliseconds
        self.clients = clients
        self.units = units
        self.events = events
        self.heartbeatMilliseconds = heartbeatMilliseconds
        self.liveness = liveness
        self.maxMessageBytes = maxMessageBytes
    }

    /// How long a unit may stay silent before the broker declares it dead:
    /// `liveness` heartbeat intervals.
    public var unitExpiryMilliseconds: Int {
        heartbeatMilliseconds * liveness
    }

    /// How long a unit may serve after the broker last heard it (its lease), by its own clock:
    /// shorter than `unitExpiryMilliseconds` by a fifth (at least 10 ms), the margin for the two
    /// clocks' drift, so a unit the broker declares dead has stopped before its successor starts.
    public var leaseMilliseconds: Int {
        GridCore.leaseMilliseconds(expiry: unitExpiryMilliseconds)
    }
}
