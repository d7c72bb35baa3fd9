import GridClient
import GridCore
import GridTopology
import GridWire
import Logging
import ZeroMQ

/// The messaging grid (DESIGN.md section 3): a ROUTER for clients, a ROUTER
/// for units, a PUB for grid events, and the partition table.
///
/// One thread owns the broker and its sockets: `run` polls them until the
/// stop signal is raised. Decisions live in `PartitionTable` and
/// `HeartbeatMonitor`; this shell moves frames, carries out table changes,
/// and keeps the requests in flight so that none is lost when a unit dies:
/// they are routed again to the new primary, and requests for a partition
/// without a primary wait (up to `requestWaitMilliseconds`) instead of failing.
public final class Broker {
    let topology: Topology
    let logger: Logger
    let frontend: Socket
    let backend: Socket
    let events: Socket

    var table: PartitionTable
    var monitor: HeartbeatMonitor
    /// Live units by routing id, and routing ids by unit name.
    var units: [[UInt8]: UnitRecord] = [:]
    var routingIDs: [String: [UInt8]] = [:]
    /// Sections by their name's bytes, so routing never builds a String.
    var sectionsByBytes: [[UInt8]: SectionRoute] = [:]
    /// Each partition's primary, by section index then partition: what `route`
    /// reads per request instead of the table and two dictionaries.
    /// Rebuilt lazily after anything that may move a primary (`routesValid`).
    var routes: [[RouteTarget?]] = []
    var routesValid = false
    /// Requests sent to a unit and not answered yet, by the number the broker gave each
    /// routing (the envelope units echo): a late reply to an earlier routing finds nothing.
    var inFlight: [UInt64: InFlight] = [:]
    var nextRequestNumber: UInt64 = 1
    /// Numbers client requests in arrival order, so requests routed again keep it.
    var nextArrival: UInt64 = 1
    /// This broker's generation (persisted in the run folder): every epoch it grants is above
    /// `generation << 16`, so no epoch an earlier broker granted is ever granted again.
    let generation: UInt64
    /// Requests for partitions without a primary, by section and partition.
    var waiting: [PartitionKey: [PendingRequest]] = [:]
    var waitingCount = 0
    /// Each primary's last reported sequence and replication lag, by section and partition.
    var lag: [PartitionKey: ReportRecord] = [:]
    var counters = Counters()
    let startedAt = monotonicMilliseconds()
    var lastHeartbeatSent: UInt64 = 0
    /// The write-behind mirror's latest report and when it came (monotonic ms).
    var mirrorReport: MirrorStatus?
    var mirrorReportAt: UInt64 = 0
    let requestWaitMilliseconds: UInt64

    /// What routing needs of a section, precomputed.
    struct SectionRoute {
        /// The section's place in the topology, its row in `routes`.
        var index: Int
        var name: String
        var partitioner: Partitioner
        var operations: Set<[UInt8]>
        /// A unit of the section registered (and listed its operations) since the broker
        /// started: before that, an operation not yet known is routed, not refused.
        var heard = false
    }

    /// Where a partition's requests go: its primary's routing id and epoch.
    struct RouteTarget {
        var routingID: [UInt8]
        var epoch: UInt64
        var requests: RequestCounter
    }

    /// A unit's request count, shared by its record and its `routes` entries
    /// so that counting a request costs no dictionary lookup.
    final class RequestCounter {
        var count: UInt64 = 0
    }

    /// A live unit as the broker sees it.
    struct UnitRecord {
        var name: String
        var section: String
        var pid: Int32
        var publisher: String
        var replication: String
        /// Where the unit takes direct requests ("" when it takes none).
        var clients: String
        /// The unit's process (its random incarnation).
        var incarnation: UInt64
        /// The stamp of its latest READY or REPORT: echoed in every HEARTBEAT and ASSIGN, it
        /// renews the unit's lease.
        var stamp: UInt64
        /// How many ASSIGNs this registration was sent: a REPORT's in-sync masks count only
        /// when it reflects the latest.
        var assignSent: UInt64 = 0
        let requestCounter = RequestCounter()
        var requests: UInt64 { requestCounter.count }
        var lastHeard: UInt64
        /// Requests and changes the unit refused for an old epoch, as it last reported.
        var fenced: UInt64 = 0
        /// Entries loaded from the database so far while a cold start is under way.
        var loading: UInt64?
        /// The host the unit runs on, as it said (nil: it did not say).
        var host: String?
        /// Handshakes the unit's sockets refused for an unknown CURVE key, as it last reported.
        var refusedKeys: UInt64 = 0
    }

    struct PartitionKey: Hashable {
        var section: String
        var partition: Int
    }

    /// A request the broker answers for: where it came from and what it asks.
    struct PendingRequest {
        var client: [UInt8]
        var envelope: ClientEnvelope
        var section: String
        var sectionIndex: Int
        var partition: Int
        var operation: [UInt8]
        var key: [UInt8]
        var arguments: [[UInt8]]
        /// The client's request id frame (empty when it sent none).
        var requestID: [UInt8]
        var attempts = 0
        var since: UInt64
        /// Its place in the order requests arrived.
        var arrival: UInt64
    }

    struct InFlight {
        var request: PendingRequest
        var unit: [UInt8]
    }

    struct Counters {
        var requests: UInt64 = 0
        var dropped: UInt64 = 0
        var refused: UInt64 = 0
        var rerouted: UInt64 = 0
        var promotions: UInt64 = 0
        var lost: UInt64 = 0
        var moves: UInt64 = 0
    }

    /// Where `grid scale`'s counts are kept across broker restarts (nil: an in-process grid).
    let runFolder: String?

    /// When the partition table last ticked.
    var lastTableTick: UInt64 = 0

    /// Units whose ASSIGN waits for the end of the loop turn (`flushAssignments`).
    var deferredAssignments: Set<String> = []

    /// Handshakes refused for an unknown CURVE key so far (the process's ZAP handler; nil:
    /// security is off), for `grid status` and `grid metrics`.
    public var refusedKeys: (@Sendable () -> UInt64)?

    /// Why the `grid scale` being answered was asked for (its event says so).
    var scaleReason: String?

    /// The most units `grid scale` gives one section.
    static let maximumUnitsPerSection = 64

    /// Binds the broker's three sockets as the topology says. `generation` comes from
    /// `BrokerGeneration.next(runFolder:)` (one more than the last broker's); an in-process
    /// grid without a run folder is generation 0.
    public init(topology: Topology, context: Context, logger: Logger, requestWaitMilliseconds: UInt64 = 3_000, generation: UInt64 = 0,
                runFolder: String? = nil) throws(ZMQError) {
        self.generation = generation
        self.runFolder = runFolder
        self.topology = topology
        self.logger = logger
        self.requestWaitMilliseconds = requestWaitMilliseconds
        let broker = topology.broker
        frontend = try Socket(context, .router, linger: 0)
        backend = try Socket(context, .router, linger: 0)
        events = try Socket(context, .pub, linger: 0)
        for socket in [frontend, backend] {
            try socket.setRouterMandatory()
            try socket.setHighWaterMarks(send: 200_000, receive: 200_000)
        }
        // A request over max_message_bytes gets a 413 reply (Broker+Clients); libzmq
        // itself drops the connection of a peer sending a frame over four times the
        // limit, so a hostile client cannot make the broker buffer gigabytes.
        try frontend.setMaximumMessageSize(Int64(broker.maxMessageBytes) * 4)
        try backend.setMaximumMessageSize(Int64(broker.maxMessageBytes) * 4)
        // With CURVE (the context's identity), every bound socket is a server the ZAP handler guards.
        for socket in [frontend, backend, events] { try context.curve?.serve(socket) }
        try frontend.bind(broker.clients)
        try backend.bind(broker.units)
        try events.bind(broker.events)

        table = PartitionTable(sections: topology.sections.map {
            PartitionTable.SectionSpec(name: $0.name, partitioner: $0.partitioner, expectedUnits: $0.units, backups: $0.backups)
        }, lossGraceMilliseconds: UInt64(broker.lossGraceMilliseconds), generation: generation)
        if let runFolder {
            // A broker restarted after `grid scale` expects every unit the grid has.
            for (section, count) in SectionScaleFile.load(runFolder: runFolder).sorted(by: { $0.key < $1.key }) {
                _ = table.scale(section: section, units: count, now: 0)
            }
        }
        monitor = HeartbeatMonitor(intervalMilliseconds: broker.heartbeatMilliseconds, liveness: broker.liveness)
        for (index, section) in topology.sections.enumerated() {
            sectionsByBytes[Array(section.name.utf8)] = SectionRoute(
                index: index, name: section.name, partitioner: section.partitioner,
                operations: Set(DataOperation.allCases.map { Array($0.rawValue.utf8) }))
        }
    }

    /// Polls until `signal` is raised, then tells every unit goodbye and closes the sockets.
    public func run(until signal: StopSignal) throws(ZMQError) {
        logger.info("broker listening", metadata: [
            "grid.clients": "\(topology.broker.clients)", "grid.units": "\(topology.broker.units)",
            "grid.events": "\(topology.broker.events)", "generation": "\(generation)",
        ])
        var poller = Poller()
        let frontIndex = poller.add(frontend)
        let backIndex = poller.add(backend)
        let tick = max(1, min(topology.broker.heartbeatMilliseconds, 100))
        while !signal.isStopped {
            try poller.poll(timeoutMilliseconds: tick)
            // Units first: their replies free clients, and their READYs open routes.
            if poller.isReadable(backIndex) { try drainBackend() }
            if poller.isReadable(frontIndex) { try drainFrontend() }
            try onTick(now: monotonicMilliseconds())
            try flushAssignments()
        }
        for routingID in units.keys {
            _ = try? backend.send(routingID, UnitMessage.disconnect.frames)
        }
        frontend.close()
        backend.close()
        events.close()
    }

    /// At most this many messages per socket per wake-up, so one busy side cannot starve the other.
    static let drainBatch = 512

    func drainFrontend() throws(ZMQError) {
        var frames: [[UInt8]] = []
        for _ in 0..<Self.drainBatch {
            guard try frontend.receive(into: &frames) else { return }
            try onClientMessage(frames)
        }
    }

    func drainBackend() throws(ZMQError) {
        var frames: [[UInt8]] = []
        for _ in 0..<Self.drainBatch {
            guard try backend.receive(into: &frames) else { return }
            try onUnitMessage(frames)
        }
    }

    /// Fills `routes` from the table and the live units.
    func rebuildRoutes() {
        routes = topology.sections.map { section in
            let count = table.sections[section.name]?.slots.count ?? 0
            return (0..<count).map { partition in
                guard let (unit, epoch) = table.primary(section: section.name, partition: partition),
                      let routingID = routingIDs[unit], let record = units[routingID] else { return nil }
                return RouteTarget(routingID: routingID, epoch: epoch, requests: record.requestCounter)
            }
        }
        routesValid = true
    }

    /// Heartbeats out, dead units out, delayed placements in, expired waits answered.
    func onTick(now: UInt64) throws(ZMQError) {
        if now - lastHeartbeatSent >= UInt64(topology.broker.heartbeatMilliseconds) {
            lastHeartbeatSent = now
            // Each carries the stamp of the unit's latest report: only a unit the broker still
            // hears and counts alive has its lease renewed.
            for (routingID, unit) in units {
                _ = try backend.send(routingID, UnitMessage.heartbeat(echo: unit.stamp).frames)
            }
        }
        var dead: [[UInt8]] = []
        for name in monitor.onTick(now: now) {
            logger.warning("unit declared dead: missed heartbeats", metadata: ["grid.unit": "\(name)"])
            let section = table.unitSections[name] ?? ""
            publish("grid.unit.dead", ["unit": name, "section": section, "reason": "missed heartbeats"])
            if let routingID = routingIDs[name] { dead.append(routingID) }
        }
        // Together: none of their partitions is promoted onto another of them.
        if !dead.isEmpty { try onUnitsGone(dead) }
        // The loop turns after every batch of messages; the table's clocks (placement delay,
        // loss grace, rebalancing) need no more than one tick per 10 ms.
        if now >= lastTableTick + 10 || now < lastTableTick {
            lastTableTick = now
            try apply(table.onTick(now: now))
        }
        if waitingCount > 0 { try expireWaiting(now: now) }
    }
}
