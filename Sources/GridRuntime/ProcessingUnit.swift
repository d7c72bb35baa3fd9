import GridClient
import GridCore
import GridStore
import GridWire
import Logging
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A processing unit (DESIGN.md section 3): one process hosting partitions of
/// one section, as primary or backup.
///
/// One thread owns the unit and all its sockets:
/// - a DEALER to the broker (`MDPW01`): requests in, replies, reports and heartbeats out;
/// - a PUB: the changes of the partitions it leads, and invalidation events;
/// - a ROUTER: snapshots and catch-ups for its backups, and their acknowledgements;
/// - a SUB and one DEALER per primary it follows, for the partitions it backs up;
/// - a ROUTER for direct requests from partition-aware clients (`SGD02`), when
///   it knows its section's partitioner to check them with.
///
/// The data, leases and replication bookkeeping live in the pure `UnitStore`;
/// this shell moves frames, keeps the replies that wait for backups, and keeps the
/// requests that wait for the lease (renewed by the broker's heartbeats).
public final class ProcessingUnit {
    public struct Configuration: Sendable {
        public var section: String
        public var name: String
        /// The broker's unit endpoint.
        public var broker: String
        public var heartbeatMilliseconds: Int
        public var liveness: Int
        public var mode: BackupMode
        public var replicationIntervalMilliseconds: Int
        /// The address the unit binds its PUB and ROUTERs on (`0.0.0.0`: every interface).
        public var host: String
        /// The address the unit tells others to connect to (nil: the bound one). Required
        /// in effect when `host` is a wildcard, which nobody can connect to.
        public var advertise: String?
        /// Fixed ports: the PUB on `basePort`, the replication ROUTER on `basePort + 1`, the
        /// direct ROUTER on `basePort + 2` (nil: ports chosen by the system).
        public var basePort: Int?
        /// The host the unit reports, for placement and `status` (nil: its advertised address).
        public var hostName: String?
        /// Handshakes refused for an unknown CURVE key so far (the process's ZAP handler), for REPORT.
        public var refusedKeys: (@Sendable () -> UInt64)?
        /// The section's partition count, to precompute topics.
        public var partitionCount: Int
        /// The section's domain operations and workflows (nil: data operations only).
        public var logic: Section?
        /// The broker's client endpoint, where workflows send their steps.
        public var clients: String?
        /// Opens the grid's database (nil: the grid has none). With one, a primary lease for a
        /// partition the unit holds nothing of is loaded from it before requests are served
        /// (cold start), and a stopping unit waits until the mirror stored what it led.
        public var database: (@Sendable () throws(StoreError) -> any WriteBehindStore)?
        /// How long a stopping unit waits for the mirror to store what it led.
        public var mirrorWaitMilliseconds: Int = 10_000
        /// The section's partitioner. With it the unit takes direct requests from
        /// partition-aware clients, checking that each key is in the partition named.
        public var partitioner: Partitioner?
        /// The largest direct request taken: the topology's `max_message_bytes`, as at the broker.
        public var maxMessageBytes = 1_048_576
        /// How long the unit serves after the stamp the broker echoed (`leaseMilliseconds(expiry:)`).
        public var leaseMilliseconds: Int

        public init(section: String, name: String, broker: String, heartbeatMilliseconds: Int, liveness: Int,
                    mode: BackupMode = .sync, replicationIntervalMilliseconds: Int = 50, host: String = "127.0.0.1", partitionCount: Int = 271,
                    logic: Section? = nil, clients: String? = nil) {
            self.logic = logic
            self.clients = clients
            self.section = section
            self.name = name
            self.broker = broker
            self.heartbeatMilliseconds = heartbeatMilliseconds
            self.liveness = liveness
            self.mode = mode
            self.replicationIntervalMilliseconds = replicationIntervalMilliseconds
            self.host = host
            self.partitionCount = partitionCount
            leaseMilliseconds = GridCore.leaseMilliseconds(expiry: heartbeatMilliseconds * liveness)
        }
    }

    let configuration: Configuration
    let context: Context
    /// After `run`: how many partitions this unit led whose latest changes the database
    /// did not hold when it stopped (a stop that gave up waiting for the mirror).
    public private(set) var partitionsNotStored = 0
    let logger: Logger
    var brokerSocket: Socket? { didSet { socketsChanged = true } }
    let publisher: Socket
    let replicationRouter: Socket
    let subscriber: Socket
    /// One DEALER per primary this unit follows, by unit name.
    var peers: [String: Socket] = [:] { didSet { socketsChanged = true } }
    var peerEndpoints: [String: AssignBody.Peer] = [:]
    var connectedPublishers: Set<String> = []
    var subscribedTopics: Set<Int> = []
    /// Routing ids of backups on the replication ROUTER, learned from their messages.
    var backupRoutingIDs: [String: [UInt8]] = [:]

    /// Whether the run loop's poller must be rebuilt (a socket was opened or closed).
    var socketsChanged = true
    public internal(set) var store: UnitStore
    /// This process's random id (below 2^53: JSON readers keep it exact).
    let incarnation = UInt64.random(in: 1..<(1 << 53))
    /// The number of the last ASSIGN applied (REPORT says it, so the broker knows which
    /// backup list the in-sync masks refer to).
    var lastAssign: UInt64 = 0
    /// Requests that wait for the lease to be renewed.
    var waitingForLease: [ParkedRequest] = []
    /// When the commit indexes were last all published (the mirror notices tail losses by them).
    var lastCommitsAll: UInt64 = 0
    let commitTopic: [UInt8]
    /// Replies that wait for backups (sync mode), by token.
    var heldReplies: [Int: [HeldReply]] = [:]
    /// The ROUTER direct requests come in on, and where it listens.
    let clientRouter: Socket?
    public let clientEndpoint: String?
    /// Workflows: the DEALER their steps go out on, the steps awaiting replies, and the clients waiting for results.
    var workflowClient: Socket? { didSet { socketsChanged = true } }
    var workflowCalls: [UInt64: PendingCall] = [:]
    var workflowWaiters: [[UInt8]: WorkflowWaiters] = [:]
    /// Workflow steps that wait, like replies, until the entry write before them is on the backups.
    var heldCalls: [Int: [PendingCall]] = [:]
    var nextCorrelation: UInt64 = 1
    var lastWorkflowCheck: UInt64 = 0
    /// Changes not yet published (async mode flushes them every replication interval).
    var outbox: [Change] = []
    /// Acknowledgements to send at the end of this loop turn, by primary.
    var pendingAcks: [String: [Int: PeerMessage.AckRecord]] = [:]
    let topics: [[UInt8]]
    let invalidationTopic: [UInt8]

    /// Cold starts under way, and the requests that wait for their partitions.
    var loaders: [ColdStartLoader] = []
    var waitingForLoad: [ParkedRequest] = []
    /// Partitions installed without a database (empty), whose waiting requests the loop serves.
    var pendingLoadsInstalled: Set<Int> = []
    /// Per partition, what the mirror said the database holds, and where the mirror is.
    var mirrorStored: [Int: PeerMessage.StoredRecord] = [:]
    var mirrorRoutingID: [UInt8]?

    var lastHeardFromBroker: UInt64 = 0
    var lastSent: UInt64 = 0
    var lastReport: UInt64 = 0
    var lastFlush: UInt64 = 0
    var lastTick: UInt64 = 0
    public let publisherEndpoint: String
    public let replicationEndpoint: String

    public init(configuration: Configuration, context: Context, logger: Logger) throws(ZMQError) {
        self.configuration = configuration
        self.context = context
        self.logger = logger
        store = UnitStore(incarnation: incarnation)
        commitTopic = ReplicationWire.commitTopic(section: configuration.section)
        topics = (0..<configuration.partitionCount).map { ReplicationWire.topic(section: configuration.section, partition: $0) }
        invalidationTopic = ReplicationWire.invalidationTopic(section: configuration.section)
        publisher = try Socket(context, .pub, linger: 100)
        // PUB drops silently at its high-water mark (ZEROMQ.md, trap 1): keep it
        // high; the sequence numbers and resends repair whatever is still dropped.
        try publisher.setHighWaterMarks(send: 1_000_000, receive: 1_000)
        // With CURVE (the context's identity), every bound socket is a server the ZAP handler guards.
        try context.curve?.serve(publisher)
        try publisher.bind(configuration.bindEndpoint(offset: 0))
        publisherEndpoint = configuration.advertised(publisher.lastEndpoint)
        replicationRouter = try Socket(context, .router, linger: 100)
        try replicationRouter.setRouterMandatory()
        // Snapshots go out in chunks without waiting; a full queue must not cut one short.
        try replicationRouter.setHighWaterMarks(send: 0, receive: 100_000)
        try context.curve?.serve(replicationRouter)
        try replicationRouter.bind(configuration.bindEndpoint(offset: 1))
        replicationEndpoint = configuration.advertised(replicationRouter.lastEndpoint)
        subscriber = try Socket(context, .sub, linger: 0)
        try subscriber.setHighWaterMarks(send: 1_000, receive: 1_000_000)
        try context.curve?.connect(subscriber)
        if configuration.partitioner != nil {
            let router = try Socket(context, .router, linger: 0)
            try router.setRouterMandatory()
            try router.setHighWaterMarks(send: 200_000, receive: 200_000)
            try router.setMaximumMessageSize(Int64(configuration.maxMessageBytes) * 4)
            try context.curve?.serve(router)
            try router.bind(configuration.bindEndpoint(offset: 2))
            clientRouter = router
            clientEndpoint = configuration.advertised(router.lastEndpoint)
        } else {
            clientRouter = nil
            clientEndpoint = nil
        }
    }

    /// Connects, registers and serves until `signal` is raised; then says goodbye.
    public func run(until signal: StopSignal) throws(ZMQError) {
        try connect()
        let tick = max(1, min(configuration.heartbeatMilliseconds, configuration.replicationIntervalMilliseconds, 50))
        // A restarted broker tells a unit it does not know to register again (DISCONNECT)
        // as soon as the unit's next REPORT reaches it; this timer is only for a broker that
        // vanished altogether. It is long on purpose: a unit that re-registers while the
        // broker is merely slow (a busy machine) is taken for a restarted process and fails over.
        let expiry = UInt64(max(5_000, configuration.heartbeatMilliseconds * configuration.liveness * 10))
        var poller = Poller()
        var workflowIndex: Int?
        var clientIndex: Int?
        var peerList: [(String, Socket)] = []
        var peerBase = 0
        var frames: [[UInt8]] = []
        while !signal.isStopped {
            guard let brokerSocket else { return }
            if socketsChanged {
                // Rebuilt only when a socket came or went, not on every wake-up.
                socketsChanged = false
                poller = Poller()
                poller.add(brokerSocket)
                poller.add(replicationRouter)
                poller.add(subscriber)
                workflowIndex = workflowClient.map { poller.add($0) }
                clientIndex = clientRouter.map { poller.add($0) }
                peerList = Array(peers)
                peerBase = (clientIndex ?? workflowIndex ?? 2) + 1
                for (_, socket) in peerList { poller.add(socket) }
            }
            try poller.poll(timeoutMilliseconds: tick)

            // The replication stream first: changes a backup already received are applied before
            // an ASSIGN that promotes it is read (in async mode its primary acknowledged them).
            if poller.isReadable(2) { try drainSubscriber() }
            for (index, (name, socket)) in peerList.enumerated() where poller.isReadable(peerBase + index) {
                try drainPeer(name, socket)
            }
            if poller.isReadable(0) {
                for _ in 0..<512 {
                    guard try brokerSocket.receive(into: &frames) else { break }
                    try onBrokerMessage(frames)
                    // A DISCONNECT made us reconnect: the old socket is closed.
                    if self.brokerSocket !== brokerSocket { break }
                }
            }
            if poller.isReadable(1) { try drainReplicationRouter() }
            if let workflowIndex, poller.isReadable(workflowIndex) { try drainWorkflowReplies() }
            if let clientIndex, poller.isReadable(clientIndex) { try drainDirectRequests() }
            try flushAcknowledgements()
            if !loaders.isEmpty || !pendingLoadsInstalled.isEmpty { try installColdStarts() }

            let now = monotonicMilliseconds()
            publishCommits(all: now - lastCommitsAll >= 500, now: now)
            if !outbox.isEmpty && now - lastFlush >= UInt64(configuration.replicationIntervalMilliseconds) {
                publishOutbox()
            }
            if now - lastWorkflowCheck >= 500, store.leaseValid(now: now) {
                lastWorkflowCheck = now
                try retryStaleWorkflowCalls(now: now)
            }
            if now - lastTick >= 50 {
                lastTick = now
                try carryOut(store.onTick(now: now, resendAfterMilliseconds: UInt64(max(50, configuration.heartbeatMilliseconds))))
            }
            // REPORT every interval, however busy: promotion and lag figures depend on it.
            if now - lastReport >= UInt64(configuration.heartbeatMilliseconds) {
                try sendReport(now: now)
            }
            if now - lastHeardFromBroker > expiry {
                // The broker went silent (restart, network): reconnect and register again.
                logger.warning("broker silent, reconnecting", metadata: ["grid.unit": "\(configuration.name)"])
                try connect()
            }
        }
        publishOutbox()
        try? send(.disconnect)
        brokerSocket?.close()
        brokerSocket = nil
        if configuration.database != nil { partitionsNotStored = awaitMirror() }
        for socket in peers.values { socket.close() }
        workflowClient?.close()
        publisher.close()
        replicationRouter.close()
        subscriber.close()
        clientRouter?.close()
    }

    // MARK: - Broker

    /// Registers (again): READY with what the unit holds, over a new DEALER. From then on
    /// the unit has no lease until the broker grants one: what waited for the old one is
    /// answered 421 (routed again, and by its request id applied once) or dropped.
    func connect() throws(ZMQError) {
        // The claims are void until the broker answers. What waited is answered 421 on the
        // old connection, the one the broker routed it by: on the new one, anything before
        // READY comes from a routing id the broker does not know, which it answers
        // DISCONNECT (and a second READY under our name fails over what the first was given).
        try carryOut(store.onRegistering())
        try refuseWaitingForLease()
        brokerSocket?.close()
        let socket = try Socket(context, .dealer, linger: 100)
        try socket.setHighWaterMarks(send: 200_000, receive: 200_000)
        try socket.setReconnectInterval(milliseconds: 50, maximum: 1_000)
        try context.curve?.connect(socket)
        try socket.connect(configuration.broker)
        brokerSocket = socket
        let now = monotonicMilliseconds()
        lastHeardFromBroker = now
        let report = UnitReport(
            operations: configuration.logic?.operationNames ?? DataOperation.allCases.map(\.rawValue), pid: getpid(), publisher: publisherEndpoint,
            replication: replicationEndpoint, clients: clientEndpoint, holdings: store.holdings.map { ReportRecord(holding: $0) },
            incarnation: incarnation, stamp: now, host: configuration.hostName ?? configuration.advertise ?? configuration.host)
        // The claims go out as they were.
        lastAssign = 0
        try send(.ready(section: configuration.section, unit: configuration.name, report: report))
        logger.info("unit registering", metadata: [
            "grid.unit": "\(configuration.name)", "grid.section": "\(configuration.section)", "broker": "\(configuration.broker)",
            "held": "\(store.led.count + store.followed.count)",
        ])
    }

    func send(_ message: UnitMessage) throws(ZMQError) {
        try sendToBroker(message.frames)
    }

    func sendToBroker(_ frames: [[UInt8]]) throws(ZMQError) {
        guard let brokerSocket else { return }
        // The broker is the only peer; when its queue is full, wait rather than lose a reply.
        _ = try brokerSocket.send(frames, blocking: true)
        lastSent = monotonicMilliseconds()
    }

    /// REPORT: holdings, sequences, lag and in-sync backups; its stamp, echoed by the
    /// broker, renews the lease. It doubles as the heartbeat.
    func sendReport(now: UInt64) throws(ZMQError) {
        let records = store.holdings.map { holding -> ReportRecord in
            guard holding.role == .primary else { return ReportRecord(holding: holding) }
            let mask = store.inSyncMask(of: holding.partition)
            guard let lag = store.lag(of: holding.partition, now: now) else { return ReportRecord(holding: holding, inSyncMask: mask) }
            return ReportRecord(holding: holding, inSyncMask: mask, behind: lag.behind,
                                unacknowledgedMilliseconds: UInt32(min(lag.oldestUnacknowledgedMilliseconds, UInt64(UInt32.max))))
        }
        let meta = ReportMeta(fenced: store.fencedRequests, stamp: now, assign: lastAssign,
                              loading: loaders.isEmpty ? nil : UInt64(loaders.reduce(0) { $0 + $1.loaded }),
                              refusedKeys: configuration.refusedKeys?() ?? 0)
        try send(.report(records: records, meta: meta))
        lastReport = now
    }

    /// The broker echoed a stamp of ours: the lease runs until that stamp plus its length.
    func renewLease(stamp: UInt64) throws(ZMQError) {
        guard stamp > 0 else { return }
        let now = monotonicMilliseconds()
        let wasValid = store.leaseValid(now: now)
        try carryOut(store.renewLease(until: stamp + UInt64(configuration.leaseMilliseconds), now: now))
        if !wasValid { try serveWaitingForLease() }
    }

    /// Tries again the requests that waited for the lease (or for an assignment to confirm
    /// a partition held from before the unit registered again).
    func serveWaitingForLease() throws(ZMQError) {
        guard store.leaseValid(now: monotonicMilliseconds()), !waitingForLease.isEmpty else { return }
        let parked = waitingForLease
        waitingForLease.removeAll()
        for request in parked { try onRequest(request) }
    }

    func onBrokerMessage(_ frames: [[UInt8]]) throws(ZMQError) {
        lastHeardFromBroker = monotonicMilliseconds()
        let message: UnitMessage
        switch UnitMessage.decode(frames[...]) {
        case .success(let decoded): message = decoded
        case .failure(let error):
            logger.warning("dropped a malformed broker message", metadata: ["reason": "\(error.message)"])
            return
        }
        switch message {
        case .request(let client, let envelope, let route, let requestID, let operationName, let key, let arguments):
            try onRequest(ParkedRequest(client: client, envelope: envelope, route: route, requestID: RequestWire.decodeID(requestID),
                                        operationName: operationName, key: key, arguments: arguments, path: .broker))
        case .assign(let body):
            // The lease first: what the new assignment starts (workflows resumed) needs it;
            // requests waiting for it are served once the assignment says what is led.
            try renewLease(stamp: body.stamp)
            try onAssign(body)
            try serveWaitingForLease()
        case .heartbeat(let echo):
            if let echo { try renewLease(stamp: echo) }
        case .disconnect:
            // The broker does not know us (it restarted, or declared us dead): register again.
            logger.warning("broker asked to register again", metadata: ["grid.unit": "\(configuration.name)"])
            try connect()
        case .ready, .reply, .report:
            logger.warning("unexpected command from the broker", metadata: ["command": "\(message.command)"])
        }
    }

    func onAssign(_ body: AssignBody) throws(ZMQError) {
        guard let assignments = body.coreAssignments else { return }
        lastAssign = body.assign
        for (name, peer) in body.peers { peerEndpoints[name] = peer }
        let ledBefore = Set(store.led.keys.filter { store.led[$0]?.loading == false })
        let directives = store.onAssign(assignments, now: monotonicMilliseconds())
        // Subscribe first, then ask for snapshots (the Clone pattern): fewer changes slip between.
        try updateSubscriptions()
        try carryOut(directives)
        let notLed = ledBefore.subtracting(store.led.keys)
        forgetWorkflows(notLedAnyMore: notLed)
        try refuseWaiting(notLedAnyMore: notLed)
        // A handover waits for the report that shows the primary stopped serving: at once.
        if assignments.contains(where: { $0.handover != nil }) { try sendReport(now: monotonicMilliseconds()) }
        // A partition just led (promoted, or new): its unfinished workflows continue here.
        try resumeWorkflows(in: Set(store.led.keys).subtracting(ledBefore).subtracting(store.loadingPartitions))
        logger.info("leases assigned", metadata: [
            "grid.unit": "\(configuration.name)",
            "primaries": "\(assignments.filter { $0.lease.role == .primary }.count)",
            "backups": "\(assignments.filter { $0.lease.role == .backup }.count)",
        ])
    }
}
