import GridClient
import GridCore
import GridStore
import GridWire
import Logging
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// The write-behind mirror (DESIGN.md section 6): follows every partition's
/// replication stream and writes the changes to the database in batches.
///
/// One thread owns the loop and all its sockets:
/// - a SUB to every unit's publisher (subscribed to `section.` of each mirrored section);
/// - one DEALER per unit, to its replication ROUTER: catch-ups and snapshots when the
///   stream has a gap, and `stored` messages that tell primaries what the database holds;
/// - a client DEALER to the broker: `grid status` (where units and primaries are, and
///   each partition's newest sequence) and `grid mirror` (this mirror's own report).
///
/// Per section a pure `WriteBehindBuffer` decides batches, gaps and retries; the
/// `MirrorWriter` thread carries the batches to the database.
public final class Mirror {
    public struct Configuration: Sendable {
        /// How the mirror names itself to primaries.
        public var name: String
        /// The broker's client endpoint.
        public var broker: String
        /// The sections to mirror, in topology order.
        public var sections: [String]
        public var maximumBatch: Int
        public var maximumDelayMilliseconds: Int
        /// Where the database is, safe to print (shown by `spacegrid status`).
        public var database: String
        /// How often the mirror asks for the grid's status and reports its own.
        public var reportMilliseconds: Int
        /// How long a stopping mirror goes on writing what it holds.
        public var drainMilliseconds: Int

        public init(name: String = "mirror", broker: String, sections: [String], maximumBatch: Int = 1_000, maximumDelayMilliseconds: Int = 100,
                    database: String, reportMilliseconds: Int = 500, drainMilliseconds: Int = 30_000) {
            self.name = name
            self.broker = broker
            self.sections = sections
            self.maximumBatch = maximumBatch
            self.maximumDelayMilliseconds = maximumDelayMilliseconds
            self.database = database
            self.reportMilliseconds = reportMilliseconds
            self.drainMilliseconds = drainMilliseconds
        }
    }

    /// Where a unit listens, and its section.
    struct UnitView: Equatable {
        var section: String
        var publisher: String
        var replication: String
    }

    /// A partition's current primary, as the last `grid status` said.
    struct PartitionView {
        var primary: String?
        var epoch: UInt64
    }

    /// Figures per section since the mirror started.
    struct Counters {
        var committedChanges: UInt64 = 0
        var committedRows: UInt64 = 0
        var batches: UInt64 = 0
        var snapshots: UInt64 = 0
    }

    /// A snapshot arriving in chunks.
    struct SnapshotAssembly {
        var epoch: UInt64
        var sequence: UInt64
        var entries: [(key: [UInt8], entry: Entry)]
    }

    let configuration: Configuration
    let context: Context
    let logger: Logger
    let writer: MirrorWriter
    let subscriber: Socket
    var brokerClient: GridConnection
    var peers: [String: (endpoint: String, socket: Socket)] = [:]
    var connectedPublishers: Set<String> = []

    /// nil until the stored watermarks are read.
    var buffers: [String: WriteBehindBuffer]?
    var units: [String: UnitView] = [:]
    var partitions: [String: [Int: PartitionView]] = [:]
    var snapshots: [String: [Int: SnapshotAssembly]] = [:]
    /// Partitions the database holds sealed (a unit stopped politely once they were stored);
    /// any later batch of a partition unseals it.
    var sealed: [String: Set<Int>] = [:]
    /// Seals asked for and not yet written.
    var sealing: [String: Set<Int>] = [:]
    var counters: [String: Counters] = [:]
    /// What was last sent to units, to send `stored` only when something moved.
    var lastStoredSent: [String: [PeerMessage.StoredRecord]] = [:]

    var statusRequest: (id: UInt64, at: UInt64)?
    var lastStatusAt: UInt64 = 0
    var lastReportAt: UInt64 = 0
    var lastStoredAt: UInt64 = 0
    var lastStoredForcedAt: UInt64 = 0
    var lastTickAt: UInt64 = 0
    var lastChangeAt: UInt64 = 0
    var watermarksAskedAt: UInt64?
    var failing = false

    public init(configuration: Configuration, context: Context, logger: Logger,
                open: @escaping @Sendable () throws(StoreError) -> any WriteBehindStore) throws(ZMQError) {
        self.configuration = configuration
        self.context = context
        self.logger = logger
        writer = MirrorWriter(open: open)
        subscriber = try Socket(context, .sub, linger: 0)
        // PUB drops at the high-water mark: a deep queue here, and gaps are replayed anyway.
        try subscriber.setHighWaterMarks(send: 1_000, receive: 2_000_000)
        try context.curve?.connect(subscriber)
        for section in configuration.sections {
            // `section.` matches this section's change topics only: invalidations start with `invalidate:`.
            try subscriber.subscribe(Array("\(section).".utf8))
        }
        brokerClient = try GridConnection(context: context, endpoint: configuration.broker)
    }

    /// After `run`: the changes it received and could not write before its drain limit.
    public private(set) var changesNotStored = 0

    /// Mirrors until `signal` is raised, then writes what it holds (up to the drain limit).
    public func run(until signal: StopSignal) throws(ZMQError) {
        logger.info("mirror starting", metadata: [
            "database": "\(configuration.database)", "sections": "\(configuration.sections.joined(separator: ","))",
            "batch": "\(configuration.maximumBatch)", "max_delay_ms": "\(configuration.maximumDelayMilliseconds)",
        ])
        askWatermarks(now: monotonicMilliseconds())
        var drainDeadline: UInt64?
        while true {
            let now = monotonicMilliseconds()
            if drainDeadline == nil && signal.isStopped {
                drainDeadline = now + UInt64(configuration.drainMilliseconds)
                logger.info("mirror draining", metadata: ["pending": "\(pendingChanges)"])
                for section in configuration.sections { carryOut(section, buffers?[section]?.onDrain(now: now) ?? []) }
            }
            if let deadline = drainDeadline {
                // Done when everything received is written and the stream went quiet
                // (stopping units push their last changes before they exit).
                if isIdle && now - min(now, lastChangeAt) >= 1_000 { break }
                if now >= deadline {
                    logger.error("mirror stopped with changes not in the database", metadata: [
                        "pending": "\(pendingChanges)", "last_error": "\(lastError ?? "none")",
                    ])
                    break
                }
            }
            try turn(now: now, draining: drainDeadline != nil)
        }
        try? sendReport(now: monotonicMilliseconds(), state: "stopped")
        writer.stop(timeoutSeconds: 5)
        for (_, peer) in peers { peer.socket.close() }
        subscriber.close()
        brokerClient.close()
        changesNotStored = pendingChanges
        logger.info("mirror stopped", metadata: ["pending": "\(pendingChanges)"])
    }

    /// One loop turn: read what arrived, collect the writer's results, keep time.
    func turn(now: UInt64, draining: Bool) throws(ZMQError) {
        var poller = Poller()
        poller.add(subscriber)
        let peerList = Array(peers)
        for (_, peer) in peerList { poller.add(peer.socket) }
        try poller.poll(timeoutMilliseconds: 10)
        if poller.isReadable(0) { try drainSubscriber() }
        for (index, (name, peer)) in peerList.enumerated() where poller.isReadable(index + 1) {
            try drainPeer(name, peer.socket)
        }
        collectOutcomes()
        let later = monotonicMilliseconds()
        if later - lastTickAt >= 20 {
            lastTickAt = later
            for section in configuration.sections { carryOut(section, buffers?[section]?.onTick(now: later) ?? []) }
        }
        try receiveBrokerReplies(now: later)
        if statusRequest.map({ later - $0.at > 3_000 }) ?? (later - lastStatusAt >= UInt64(configuration.reportMilliseconds)) {
            lastStatusAt = later
            statusRequest = (try brokerClient.send("grid", "status", key: []), later)
        }
        if later - lastReportAt >= UInt64(configuration.reportMilliseconds) {
            try sendReport(now: later, state: draining ? "draining" : nil)
        }
        if later - lastStoredAt >= 100 {
            lastStoredAt = later
            // Whenever the watermarks move, and every second anyway (a unit that restarted).
            let force = later - lastStoredForcedAt >= 1_000
            if force { lastStoredForcedAt = later }
            try sendStored(force: force)
        }
        if buffers == nil, let asked = watermarksAskedAt, later - asked >= 1_000, !writer.busy {
            askWatermarks(now: later)
        }
    }

    // MARK: - Figures

    var isIdle: Bool {
        guard let buffers else { return false }
        return buffers.values.allSatisfy(\.isIdle) && !writer.busy
    }

    var pendingChanges: Int { buffers?.values.reduce(0) { $0 + $1.pendingChanges + $1.heldAside } ?? 0 }

    var lastError: String? { buffers?.values.compactMap(\.lastError).first }

    func sendReport(now: UInt64, state: String? = nil) throws(ZMQError) {
        lastReportAt = now
        var sections: [MirrorStatus.SectionStatus] = []
        for name in configuration.sections {
            let buffer = buffers?[name]
            let counted = counters[name] ?? Counters()
            sections.append(MirrorStatus.SectionStatus(
                name: name, pendingChanges: (buffer?.pendingChanges ?? 0) + (buffer?.heldAside ?? 0), pendingRows: buffer?.pendingRows ?? 0,
                oldestPendingMs: buffer?.oldestPendingAge(now: now) ?? 0, committedChanges: counted.committedChanges,
                committedRows: counted.committedRows, batches: counted.batches, failures: buffer?.consecutiveFailures ?? 0,
                gaps: buffer?.gaps ?? 0, snapshots: counted.snapshots))
        }
        let current = state ?? (buffers == nil ? "starting" : failing ? "retrying" : "writing")
        let report = MirrorStatus(database: configuration.database, pid: getpid(), state: current, lastError: lastError, sections: sections)
        _ = try brokerClient.send("grid", "mirror", key: [], arguments: [report.encoded])
    }

    // MARK: - Database

    func askWatermarks(now: UInt64) {
        watermarksAskedAt = now
        writer.submit(.watermarks(configuration.sections))
    }

    func collectOutcomes() {
        let now = monotonicMilliseconds()
        for outcome in writer.takeOutcomes() {
            switch outcome {
            case .watermarks(let stored):
                guard buffers == nil else { continue }
                var made: [String: WriteBehindBuffer] = [:]
                for section in configuration.sections {
                    let watermarks = (stored[section] ?? [:]).mapValues { WriteBehindBuffer.Watermark(sequence: $0.sequence, epoch: $0.epoch) }
                    made[section] = WriteBehindBuffer(
                        section: section, maximumBatch: configuration.maximumBatch,
                        maximumDelayMilliseconds: UInt64(configuration.maximumDelayMilliseconds), watermarks: watermarks)
                    sealed[section] = Set((stored[section] ?? [:]).filter(\.value.sealed).keys)
                }
                buffers = made
                logger.info("mirror resumes from the stored watermarks", metadata: [
                    "partitions": "\(stored.values.reduce(0) { $0 + $1.count })",
                ])
                // The table's epochs show what changed meanwhile: each partition asks its primary.
                applyEpochs(now: now)
            case .committed(let section, let batch, let milliseconds):
                var counted = counters[section] ?? Counters()
                counted.committedChanges += UInt64(batch.changes)
                counted.committedRows += UInt64(batch.rows.count)
                counted.batches += 1
                counters[section] = counted
                if failing {
                    failing = false
                    logger.info("database writes resumed", metadata: ["section": "\(section)", "batch_ms": "\(milliseconds)"])
                }
                sealed[section]?.subtract(batch.watermarks.keys)
                carryOut(section, buffers?[section]?.onBatchCommitted(id: batch.id, now: now) ?? [])
            case .sealed(let section, let partitions):
                sealed[section, default: []].formUnion(partitions)
                sealing[section]?.subtract(partitions)
                lastStoredAt = 0  // tell the units at once
            case .failed(.commit(let section, let batch), let error):
                if !failing {
                    failing = true
                    logger.warning("database write failed; retrying with back-off", metadata: ["section": "\(section)", "error": "\(error)"])
                }
                carryOut(section, buffers?[section]?.onBatchFailed(id: batch.id, error: error.description, now: now) ?? [])
            case .failed(.seal(let section, let partitions), let error):
                sealing[section]?.subtract(partitions.keys)
                logger.warning("cannot seal partitions; the units ask again", metadata: ["section": "\(section)", "error": "\(error)"])
            case .failed(.watermarks, let error):
                if !failing {
                    failing = true
                    logger.warning("cannot read the stored watermarks; retrying", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    func carryOut(_ section: String, _ directives: [WriteBehindBuffer.Directive]) {
        for directive in directives {
            switch directive {
            case .flush(let batch):
                writer.submit(.commit(section: section, batch))
            case .retryAt:
                break  // the tick hands the batch out again when its time comes
            case .missing(let partition, let from, let dataEpoch):
                askReplay(section: section, partition: partition, from: from, dataEpoch: dataEpoch)
            }
        }
    }

    func mutateBuffer(_ section: String, _ body: (inout WriteBehindBuffer) -> [WriteBehindBuffer.Directive]) {
        guard buffers?[section] != nil else { return }
        let directives = body(&buffers![section]!)
        carryOut(section, directives)
    }
}
