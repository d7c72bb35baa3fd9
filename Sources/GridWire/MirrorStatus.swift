import Foundation

/// What the write-behind mirror reports about itself (DESIGN.md section 6): the
/// mirror sends it to the broker (`grid mirror`) every half second, and the broker
/// hands the latest copy out with `grid status` and as metrics. JSON, snake_case.
public struct MirrorStatus: Sendable, Equatable, JSONMessage {
    public struct SectionStatus: Sendable, Equatable, Codable {
        public var name: String
        /// Changes the grid made that the database does not hold yet (coalesced ones included).
        public var pendingChanges: Int
        /// Distinct rows those changes will write.
        public var pendingRows: Int
        /// How long the oldest of them has waited, in milliseconds.
        public var oldestPendingMs: UInt64
        /// Changes and rows written since the mirror started, and in how many transactions.
        public var committedChanges: UInt64
        public var committedRows: UInt64
        public var batches: UInt64
        /// Failed writes in a row (0 when the last one succeeded).
        public var failures: Int
        /// Gaps seen in the replication stream, and partitions copied whole (snapshots).
        public var gaps: UInt64
        public var snapshots: UInt64

        public init(name: String, pendingChanges: Int = 0, pendingRows: Int = 0, oldestPendingMs: UInt64 = 0, committedChanges: UInt64 = 0,
                    committedRows: UInt64 = 0, batches: UInt64 = 0, failures: Int = 0, gaps: UInt64 = 0, snapshots: UInt64 = 0) {
            self.name = name
            self.pendingChanges = pendingChanges
            self.pendingRows = pendingRows
            self.oldestPendingMs = oldestPendingMs
            self.committedChanges = committedChanges
            self.committedRows = committedRows
            self.batches = batches
            self.failures = failures
            self.gaps = gaps
            self.snapshots = snapshots
        }

        enum CodingKeys: String, CodingKey {
            case name, batches, failures, gaps, snapshots
            case pendingChanges = "pending_changes"
            case pendingRows = "pending_rows"
            case oldestPendingMs = "oldest_pending_ms"
            case committedChanges = "committed_changes"
            case committedRows = "committed_rows"
        }
    }

    /// Where it writes, safe to print (no password).
    public var database: String
    public var pid: Int32
    /// `writing`, `retrying` (the database refused the last write) or `draining` (stopping).
    public var state: String
    /// The last write's error while it keeps failing.
    public var lastError: String?
    public var sections: [SectionStatus]
    /// Milliseconds since the broker received this report (filled in by the broker).
    public var ageMs: UInt64

    public init(database: String, pid: Int32, state: String, lastError: String? = nil, sections: [SectionStatus], ageMs: UInt64 = 0) {
        self.database = database
        self.pid = pid
        self.state = state
        self.lastError = lastError
        self.sections = sections
        self.ageMs = ageMs
    }

    enum CodingKeys: String, CodingKey {
        case database, pid, state, sections
        case lastError = "last_error"
        case ageMs = "age_ms"
    }
}
