/// Who sent a request and where it stands in that client's numbering: what makes a
/// retried, re-routed or resent request recognisable (exactly-once, PROTOCOL.md 1.2).
///
/// A client picks an id (1 to 64 bytes) and numbers its requests 1, 2, 3, ...; a retry
/// reuses the number. `floor` is the client's promise: every request numbered below it
/// has its reply and will never be sent again (0: no promise), which lets a partition
/// forget those replies.
public struct RequestID: Sendable, Hashable {
    public var client: [UInt8]
    public var sequence: UInt64
    public var floor: UInt64

    public static let maximumClientBytes = 64

    public init(client: [UInt8], sequence: UInt64, floor: UInt64 = 0) {
        self.client = client
        self.sequence = sequence
        self.floor = floor
    }
}

/// The reply a partition recorded for a request that changed it.
public struct RecordedReply: Sendable, Equatable {
    public var status: Status
    public var payload: [UInt8]
    public var version: UInt64

    public init(status: Status, payload: [UInt8], version: UInt64) {
        self.status = status
        self.payload = payload
        self.version = version
    }
}

/// What a change carries so that backups (and a promoted backup) know the request
/// it applied: replicated with the change, kept in snapshots and the replication log.
public struct RequestRecord: Sendable, Equatable {
    public var id: RequestID
    public var reply: RecordedReply

    public init(id: RequestID, reply: RecordedReply) {
        self.id = id
        self.reply = reply
    }
}

/// One partition's memory of the requests that changed it, per client: the latest
/// replies, so a request seen again gets its first reply and changes nothing.
///
/// Pure and deterministic: the primary records a request with the change it made,
/// backups record the same records in the same order, so every replica holds the
/// same table and a promoted backup answers retries exactly as its primary would have.
///
/// Bounded in two ways, both decided by the change stream alone:
/// - per client, replies below the client's `floor` are dropped (it has them), and at
///   most `maximumPerClient` are kept (the oldest go, and are then answered `expired`);
/// - at most `maximumClients` clients: the one whose last record is oldest goes first.
///   A client forgotten that way has its next retry applied again: the bound is what a
///   grid promises (PROTOCOL.md 1.2), a client retries within seconds, not hours.
public struct RequestTable: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var reply: RecordedReply
        /// The partition sequence of the change that recorded it: a retry's reply waits
        /// until that change is committed, as the first reply did.
        public var recordedAt: UInt64

        public init(reply: RecordedReply, recordedAt: UInt64) {
            self.reply = reply
            self.recordedAt = recordedAt
        }
    }

    /// One client's window of replies.
    public struct Window: Sendable, Equatable {
        public var replies: [UInt64: Entry] = [:]
        /// The highest floor the client announced to this partition.
        public var floor: UInt64 = 0
        /// Requests numbered at or below this were dropped for the per-client bound.
        public var evictedThrough: UInt64 = 0
        /// The partition sequence of the client's latest record (recency, for eviction).
        public var lastUsed: UInt64 = 0

        public init(replies: [UInt64: Entry] = [:], floor: UInt64 = 0, evictedThrough: UInt64 = 0, lastUsed: UInt64 = 0) {
            self.replies = replies
            self.floor = floor
            self.evictedThrough = evictedThrough
            self.lastUsed = lastUsed
        }
    }

    public enum Lookup: Sendable, Equatable {
        /// Never applied here: serve it.
        case fresh
        /// Applied before: answer this reply (once `recordedAt` is committed).
        case replay(Entry)
        /// Older than what the partition remembers of the client: it was answered before.
        case expired
    }

    public let maximumClients: Int
    public let maximumPerClient: Int
    public private(set) var windows: [ClientKey: Window] = [:]
    /// Clients in the order of their records (lazily pruned: an element whose
    /// `lastUsed` is not the window's any more is stale).
    private var recency: [(lastUsed: UInt64, client: ClientKey)] = []
    private var recencyStart = 0

    public init(maximumClients: Int = 10_000, maximumPerClient: Int = 1_024) {
        precondition(maximumClients > 0 && maximumPerClient > 0)
        self.maximumClients = maximumClients
        self.maximumPerClient = maximumPerClient
    }

    public static func == (lhs: RequestTable, rhs: RequestTable) -> Bool { lhs.windows == rhs.windows }

    public var clientCount: Int { windows.count }
    public var isEmpty: Bool { windows.isEmpty }

    /// What to do with a request carrying `id`.
    public func lookup(_ id: RequestID) -> Lookup {
        guard let window = windows[ClientKey(id.client)] else { return .fresh }
        if let entry = window.replies[id.sequence] { return .replay(entry) }
        if id.sequence < window.floor || id.sequence <= window.evictedThrough { return .expired }
        return .fresh
    }

    /// Records the reply of a request that changed the partition at `sequence`.
    public mutating func record(_ record: RequestRecord, at sequence: UInt64) {
        let key = ClientKey(record.id.client)
        var window = windows.removeValue(forKey: key) ?? Window()
        if record.id.floor > window.floor {
            window.floor = record.id.floor
            window.replies = window.replies.filter { $0.key >= window.floor }
        }
        window.replies[record.id.sequence] = Entry(reply: record.reply, recordedAt: sequence)
        if window.replies.count > maximumPerClient, let oldest = window.replies.keys.min() {
            window.replies[oldest] = nil
            window.evictedThrough = max(window.evictedThrough, oldest)
        }
        window.lastUsed = sequence
        windows[key] = window
        recency.append((sequence, key))
        evictIfNeeded()
        compactRecency()
    }

    private mutating func evictIfNeeded() {
        while windows.count > maximumClients, recencyStart < recency.count {
            let (lastUsed, client) = recency[recencyStart]
            recencyStart += 1
            if windows[client]?.lastUsed == lastUsed { windows[client] = nil }
        }
    }

    private mutating func compactRecency() {
        guard recencyStart > 1_024, recencyStart * 2 > recency.count else { return }
        recency.removeFirst(recencyStart)
        recencyStart = 0
    }

    // MARK: - Snapshots

    /// Every client's window, oldest first: what a snapshot carries.
    public var exported: [(client: [UInt8], window: Window)] {
        windows.map { ($0.key.bytes, $0.value) }.sorted { $0.1.lastUsed < $1.1.lastUsed }
    }

    /// A table as a snapshot carried it.
    public init(imported: [(client: [UInt8], window: Window)], maximumClients: Int = 10_000, maximumPerClient: Int = 1_024) {
        self.init(maximumClients: maximumClients, maximumPerClient: maximumPerClient)
        for (client, window) in imported.sorted(by: { $0.1.lastUsed < $1.1.lastUsed }) {
            let key = ClientKey(client)
            windows[key] = window
            recency.append((window.lastUsed, key))
        }
        evictIfNeeded()
    }
}

/// A client id as a dictionary key, hashed in bulk (`[UInt8]` hashes byte by byte).
public struct ClientKey: Hashable, Sendable {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(bytes.count)
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
