import Foundation

/// The broker's answer to `grid status`: what `spacegrid status` prints.
/// JSON on the wire (it is not on the hot path), with stable snake_case keys.
public struct GridStatus: Sendable, Equatable, JSONMessage {
    public struct UnitStatus: Sendable, Equatable, Codable {
        public var name: String
        public var pid: Int32
        public var primaries: Int
        public var backups: Int
        /// Requests the broker routed to this unit since it joined.
        public var requests: UInt64
        /// Milliseconds since the broker last heard from the unit.
        public var lastHeardMs: UInt64
        /// Where the unit publishes its changes (what `spacegrid tail` subscribes to).
        public var publisher: String
        /// Requests and changes the unit refused for an old epoch (fencing).
        public var fenced: UInt64
        /// Where the unit serves catch-ups and snapshots (what the mirror asks to replay).
        public var replication: String = ""
        /// While a cold start is under way: entries loaded from the database so far.
        public var loading: UInt64?
        /// Where the unit takes direct requests (PROTOCOL.md 1.6); empty when it takes none.
        public var clients: String = ""
        /// The unit is being emptied after `scale` (nil: it is not).
        public var draining: Bool?
        /// The host the unit runs on (nil: it did not say).
        public var host: String?
        /// Handshakes the unit's sockets refused for an unknown CURVE key.
        public var refusedKeys: UInt64?

        public init(name: String, pid: Int32, primaries: Int, backups: Int, requests: UInt64, lastHeardMs: UInt64, publisher: String = "", fenced: UInt64 = 0) {
            self.name = name
            self.fenced = fenced
            self.publisher = publisher
            self.pid = pid
            self.primaries = primaries
            self.backups = backups
            self.requests = requests
            self.lastHeardMs = lastHeardMs
        }

        enum CodingKeys: String, CodingKey {
            case name, pid, primaries, backups, requests, publisher, fenced, replication, loading, clients, draining, host
            case lastHeardMs = "last_heard_ms"
            case refusedKeys = "refused_keys"
        }

        /// Tolerates a status from an older broker, which reported no fencing count.
        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            pid = try container.decode(Int32.self, forKey: .pid)
            primaries = try container.decode(Int.self, forKey: .primaries)
            backups = try container.decode(Int.self, forKey: .backups)
            requests = try container.decode(UInt64.self, forKey: .requests)
            lastHeardMs = try container.decode(UInt64.self, forKey: .lastHeardMs)
            publisher = try container.decodeIfPresent(String.self, forKey: .publisher) ?? ""
            fenced = try container.decodeIfPresent(UInt64.self, forKey: .fenced) ?? 0
            replication = try container.decodeIfPresent(String.self, forKey: .replication) ?? ""
            loading = try container.decodeIfPresent(UInt64.self, forKey: .loading)
            clients = try container.decodeIfPresent(String.self, forKey: .clients) ?? ""
            draining = try container.decodeIfPresent(Bool.self, forKey: .draining)
            host = try container.decodeIfPresent(String.self, forKey: .host)
            refusedKeys = try container.decodeIfPresent(UInt64.self, forKey: .refusedKeys)
        }
    }

    public struct PartitionStatus: Sendable, Equatable, Codable {
        public var partition: Int
        public var primary: String?
        public var backups: [String]
        /// The backups the primary counts as in sync (the only ones that may be promoted).
        public var inSync: [String] = []
        public var epoch: UInt64
        /// The primary's last sequence.
        public var sequence: UInt64
        /// Sequences the slowest backup is behind the primary.
        public var behind: UInt64
        /// Age of the oldest change some backup has not acknowledged, in milliseconds.
        public var unackedMs: UInt64

        public init(partition: Int, primary: String?, backups: [String], epoch: UInt64, sequence: UInt64 = 0, behind: UInt64 = 0, unackedMs: UInt64 = 0) {
            self.partition = partition
            self.sequence = sequence
            self.behind = behind
            self.unackedMs = unackedMs
            self.primary = primary
            self.backups = backups
            self.epoch = epoch
        }

        enum CodingKeys: String, CodingKey {
            case partition, primary, backups, epoch, sequence, behind
            case inSync = "in_sync"
            case unackedMs = "unacked_ms"
        }

        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            partition = try container.decode(Int.self, forKey: .partition)
            primary = try container.decodeIfPresent(String.self, forKey: .primary)
            backups = try container.decode([String].self, forKey: .backups)
            inSync = try container.decodeIfPresent([String].self, forKey: .inSync) ?? []
            epoch = try container.decode(UInt64.self, forKey: .epoch)
            sequence = try container.decode(UInt64.self, forKey: .sequence)
            behind = try container.decode(UInt64.self, forKey: .behind)
            unackedMs = try container.decode(UInt64.self, forKey: .unackedMs)
        }
    }

    public struct SectionStatus: Sendable, Equatable, Codable {
        public var name: String
        public var partitioning: String
        /// `sync` or `async`.
        public var mode: String
        public var expectedUnits: Int
        public var placed: Bool
        /// Partitions without a primary.
        public var orphans: Int
        /// Most primaries on one unit minus fewest (0 or 1 when even).
        public var skew: Int
        public var units: [UnitStatus]
        public var partitions: [PartitionStatus]
        /// Whether `scale` set `expectedUnits` (a restarted broker has only the topology's count).
        public var scaled: Bool?
        /// Moves under way (online rebalancing).
        public var moves: [MoveStatus]?

        public init(name: String, partitioning: String, mode: String = "sync", expectedUnits: Int, placed: Bool, orphans: Int, skew: Int, units: [UnitStatus], partitions: [PartitionStatus]) {
            self.name = name
            self.partitioning = partitioning
            self.mode = mode
            self.expectedUnits = expectedUnits
            self.placed = placed
            self.orphans = orphans
            self.skew = skew
            self.units = units
            self.partitions = partitions
        }

        enum CodingKeys: String, CodingKey {
            case name, partitioning, mode, placed, orphans, skew, units, partitions, scaled, moves
            case expectedUnits = "expected_units"
        }
    }

    /// One partition moving between units.
    public struct MoveStatus: Sendable, Equatable, Codable {
        public var partition: Int
        /// `primary` or `backup`.
        public var kind: String
        public var from: String
        public var to: String
        /// `catching up` (the target is not in sync yet) or `handing over`.
        public var stage: String
        public var ageMs: UInt64

        public init(partition: Int, kind: String, from: String, to: String, stage: String, ageMs: UInt64) {
            self.partition = partition
            self.kind = kind
            self.from = from
            self.to = to
            self.stage = stage
            self.ageMs = ageMs
        }

        enum CodingKeys: String, CodingKey {
            case partition, kind, from, to, stage
            case ageMs = "age_ms"
        }
    }

    public var grid: String
    /// The broker's process id, so `spacegrid up` knows it reached its own broker.
    public var brokerPid: Int32
    /// Every partition of every section has a primary.
    public var ready: Bool
    public var uptimeMs: UInt64
    public var requests: UInt64
    /// Client messages dropped because no reply could be addressed.
    public var dropped: UInt64
    /// Requests answered with an error by the broker itself (bad input, no primary).
    public var refused: UInt64
    /// Partitions whose primary moved to a backup since the broker started.
    public var promotions: UInt64
    /// Where grid events are published (PUB).
    public var events: String
    public var sections: [SectionStatus]
    /// The write-behind mirror's last report (nil: the grid has no database, or no report yet).
    public var mirror: MirrorStatus?
    /// Handshakes the broker's sockets refused for an unknown CURVE key (nil: security is off).
    public var refusedKeys: UInt64?

    public init(grid: String, brokerPid: Int32, ready: Bool, uptimeMs: UInt64, requests: UInt64, dropped: UInt64, refused: UInt64, promotions: UInt64 = 0, events: String = "", sections: [SectionStatus]) {
        self.grid = grid
        self.brokerPid = brokerPid
        self.ready = ready
        self.uptimeMs = uptimeMs
        self.requests = requests
        self.dropped = dropped
        self.refused = refused
        self.promotions = promotions
        self.events = events
        self.sections = sections
    }

    enum CodingKeys: String, CodingKey {
        case grid, ready, requests, dropped, refused, sections, promotions, events, mirror
        case uptimeMs = "uptime_ms"
        case refusedKeys = "refused_keys"
        case brokerPid = "broker_pid"
    }
}
