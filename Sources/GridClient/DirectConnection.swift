import GridCore
import GridWire
import ZeroMQ

/// What the bench and other pipelining callers need of a connection: send
/// without waiting, receive replies by correlation id. Both connections are it.
public protocol PipelinedConnection: AnyObject {
    func send(_ section: String, _ operation: String, key: [UInt8], arguments: [[UInt8]], requestID: RequestID?) throws(ZMQError) -> UInt64
    func receive(timeoutMilliseconds: Int) throws(ZMQError) -> (UInt64, GridReply)?
    func close()
}

extension GridConnection: PipelinedConnection {}

/// A partition-aware ("smart") client: it learns the partition table from the
/// broker's `grid status` and sends each request of a hash-partitioned section
/// straight to the unit leading the key's partition (`SGD02`, PROTOCOL.md 1.6),
/// saving the broker's two hops.
///
/// The broker stays the way in for everything else, and the fallback:
/// - range-partitioned sections, partitions without a primary, units that take no direct requests;
/// - a direct request the unit refuses with 421 (it no longer leads the partition
///   at that epoch, or the operation is a workflow) or 503 (the partition is loading)
///   is sent again through the broker, under the same correlation id, and the
///   table is refreshed.
/// - a direct request unanswered for `resendMilliseconds` makes the connection
///   read the table again; if its partition has moved (a new epoch: its unit
///   died or was fenced), it is sent again through the broker, which routes it
///   to the new primary. Every copy carries the same request id, so a request the
///   old primary had applied is answered, not applied again. A request whose unit
///   still leads its partition waits on, up to `patienceMilliseconds` in all, then
///   goes through the broker too (its request id makes that safe).
/// - a table read that fails (the broker restarting) keeps the last table, whose
///   epochs the units check, and is tried again later, less often while it fails.
///
/// Like its sockets, a connection belongs to the thread that created it.
public final class DirectConnection: PipelinedConnection {
    public let endpoint: String
    private let context: Context
    private let broker: Socket
    /// One DEALER per unit that takes direct requests, in the order they were met.
    private var units: [Socket] = []
    private var unitIndex: [String: Int] = [:]
    /// The broker at index 0, then `units`.
    private var poller = Poller()
    private var tables: [String: Table] = [:]
    /// Direct requests not answered yet, kept so a refusal can go through the broker.
    private var direct: [UInt64: Request] = [:]
    private var nextCorrelation: UInt64 = 1
    /// Numbers requests (one client id for both paths: a resend through the broker is the same request).
    public private(set) var requests = RequestNumbering()
    private var stale = false
    private var lastRefresh: UInt64 = 0
    /// Requests sent straight to a unit, sent to the broker, and sent again through the broker after a refusal.
    public private(set) var sentDirect = 0
    public private(set) var sentThroughBroker = 0
    public private(set) var retriedThroughBroker = 0

    /// Where one section's partitions are led, as the last status said.
    struct Table {
        var partitioner: Partitioner
        var targets: [Target?]
    }

    struct Target {
        var unit: Int
        var epoch: UInt64
    }

    struct Request {
        /// When it was last looked at (first sent, or found still led there).
        var sentAt: UInt64
        var firstSentAt: UInt64
        /// Where it went: the unit's socket and the route it carried.
        var unit: Int
        var partition: Int
        var epoch: UInt64
        var section: String
        var operation: String
        var key: [UInt8]
        var arguments: [[UInt8]]
        var requestID: RequestID
    }

    /// The shortest time between two table refreshes after refusals.
    static let refreshMilliseconds: UInt64 = 1_000
    /// The time between table reads after one failed: doubles while they fail, up to 8 s.
    private var refreshInterval = refreshMilliseconds
    /// How long a direct request waits for its unit before the table is read again.
    public var resendMilliseconds: UInt64 = 1_000
    /// How long a direct request waits for a unit the table still names before it goes
    /// through the broker anyway (a request the unit lost would otherwise wait for ever).
    public var patienceMilliseconds: UInt64 = 5_000
    private var lastResendCheck: UInt64 = 0

    /// Connects to the broker at `endpoint` and reads the partition table from it.
    public init(context: Context, endpoint: String? = nil) throws(ZMQError) {
        let resolved = endpoint ?? GridConnection.environmentEndpoint ?? GridConnection.defaultEndpoint
        self.endpoint = resolved
        self.context = context
        broker = try GridConnection.clientSocket(context, resolved)
        poller.add(broker)
        try refresh()
    }

    public func close() {
        broker.close()
        for socket in units { socket.close() }
    }

    /// Its sockets (the broker's, then one per unit), for a caller that waits on
    /// many connections in one poll and then calls `receive(timeoutMilliseconds: 0)`
    /// on those with something waiting. `socketsVersion` changes when one is added.
    public var sockets: [Socket] { [broker] + units }
    public private(set) var socketsVersion = 0

    /// How many of the sections' partitions have a direct route now.
    public var directPartitions: Int {
        tables.values.reduce(0) { $0 + $1.targets.count { $0 != nil } }
    }

    /// Reads `grid status` and rebuilds the tables. A failed read keeps the last tables (a
    /// unit refuses a route whose epoch is not its own, so an old table costs a detour, not
    /// a wrong answer), and another read is due later.
    public func refresh() throws(ZMQError) {
        lastRefresh = monotonicMilliseconds()
        stale = false
        let connection = try GridConnection(context: context, endpoint: endpoint)
        defer { connection.close() }
        let reply = try connection.call("grid", "status", key: "-", timeoutMilliseconds: 2_000)
        guard reply.status == .ok, let status = GridStatus(decoding: reply.payload) else {
            stale = true
            refreshInterval = min(refreshInterval * 2, 8_000)
            return
        }
        refreshInterval = Self.refreshMilliseconds
        var next: [String: Table] = [:]
        for section in status.sections where section.partitioning == "hash" {
            var endpoints: [String: String] = [:]
            for unit in section.units where !unit.clients.isEmpty { endpoints[unit.name] = unit.clients }
            var targets: [Target?] = Array(repeating: nil, count: section.partitions.count)
            for partition in section.partitions {
                guard let primary = partition.primary, let clients = endpoints[primary],
                      targets.indices.contains(partition.partition) else { continue }
                targets[partition.partition] = Target(unit: try socket(for: clients), epoch: partition.epoch)
            }
            next[section.name] = Table(partitioner: .hash(partitions: section.partitions.count), targets: targets)
        }
        tables = next
    }

    /// The DEALER for a unit's client endpoint, connected on first use.
    private func socket(for endpoint: String) throws(ZMQError) -> Int {
        if let index = unitIndex[endpoint] { return index }
        let socket = try GridConnection.clientSocket(context, endpoint)
        units.append(socket)
        poller.add(socket)
        socketsVersion += 1
        unitIndex[endpoint] = units.count - 1
        return units.count - 1
    }

    /// Sends a request without waiting, straight to its partition's primary when the table knows it.
    @discardableResult
    public func send(_ section: String, _ operation: String, key: [UInt8], arguments: [[UInt8]] = [], requestID: RequestID? = nil) throws(ZMQError) -> UInt64 {
        if stale, monotonicMilliseconds() - lastRefresh >= refreshInterval { try refresh() }
        let correlation = nextCorrelation
        nextCorrelation &+= 1
        let id = requestID ?? requests.issue(correlation)
        if let table = tables[section], case .success(let partition) = table.partitioner.partition(of: key),
           let target = table.targets[partition] {
            let frames = ClientWire.encodeDirectRequest(
                correlation: ClientWire.correlation(correlation), requestID: id, route: Route(partition: partition, epoch: target.epoch),
                section: Array(section.utf8), operation: Array(operation.utf8), key: key, arguments: arguments)
            _ = try units[target.unit].send(frames, blocking: true)
            let now = monotonicMilliseconds()
            direct[correlation] = Request(sentAt: now, firstSentAt: now, unit: target.unit, partition: partition, epoch: target.epoch,
                                          section: section, operation: operation, key: key, arguments: arguments, requestID: id)
            sentDirect += 1
        } else {
            // A partition without a primary when the table was read has one by now, most likely.
            if tables[section] != nil { stale = true }
            try sendThroughBroker(correlation, id, section, operation, key: key, arguments: arguments)
            sentThroughBroker += 1
        }
        return correlation
    }

    private func sendThroughBroker(_ correlation: UInt64, _ requestID: RequestID, _ section: String, _ operation: String, key: [UInt8], arguments: [[UInt8]]) throws(ZMQError) {
        let frames = ClientWire.encodeNativeRequest(correlation: ClientWire.correlation(correlation), requestID: requestID, section: section,
                                                    operation: operation, key: key, arguments: arguments)
        _ = try broker.send(frames, blocking: true)
    }

    /// Receives one reply, waiting up to `timeoutMilliseconds`; nil on timeout.
    /// A refused direct request is sent again through the broker, and its reply comes later.
    public func receive(timeoutMilliseconds: Int) throws(ZMQError) -> (UInt64, GridReply)? {
        let deadline = monotonicMilliseconds() + UInt64(max(0, timeoutMilliseconds))
        var frames: [[UInt8]] = []
        while true {
            if try broker.receive(into: &frames), let (correlation, reply) = Self.decode(frames) {
                direct[correlation] = nil
                requests.answered(correlation)
                return (correlation, reply)
            }
            for socket in units {
                guard try socket.receive(into: &frames), let (correlation, reply) = Self.decode(frames) else { continue }
                guard let request = direct.removeValue(forKey: correlation) else { continue }
                if reply.status == .misdirected || reply.status == .unavailable {
                    stale = true
                    retriedThroughBroker += 1
                    try sendThroughBroker(correlation, request.requestID, request.section, request.operation, key: request.key, arguments: request.arguments)
                    continue
                }
                requests.answered(correlation)
                return (correlation, reply)
            }
            let now = monotonicMilliseconds()
            if !direct.isEmpty, now - lastResendCheck >= 100 { try resendOverdue(now: now) }
            guard now < deadline else { return nil }
            try poller.poll(timeoutMilliseconds: Int(min(deadline - now, 100)))
        }
    }

    /// Looks again at the direct requests unanswered for `resendMilliseconds`: those
    /// whose partition moved since they were sent go again through the broker.
    private func resendOverdue(now: UInt64) throws(ZMQError) {
        lastResendCheck = now
        let overdue = direct.filter { now - min(now, $0.value.sentAt) >= resendMilliseconds }
        guard !overdue.isEmpty else { return }
        // At most one table read per refresh interval, however many requests fall due.
        if now - lastRefresh >= refreshInterval { try refresh() }
        for (correlation, request) in overdue.sorted(by: { $0.key < $1.key }) {
            let target = tables[request.section].flatMap { $0.targets.indices.contains(request.partition) ? $0.targets[request.partition] : nil }
            if let target, target.unit == request.unit, target.epoch == request.epoch, now - min(now, request.firstSentAt) < patienceMilliseconds {
                // Still led there: the unit is slow, not gone. Look again later.
                direct[correlation]?.sentAt = now
                continue
            }
            direct[correlation] = nil
            retriedThroughBroker += 1
            try sendThroughBroker(correlation, request.requestID, request.section, request.operation, key: request.key, arguments: request.arguments)
        }
    }

    private static func decode(_ frames: [[UInt8]]) -> (UInt64, GridReply)? {
        guard let reply = ClientWire.decodeNativeReply(frames), let correlation = ClientWire.correlationValue(reply.correlation) else { return nil }
        return (correlation, GridReply(status: reply.status, payload: reply.payload, version: reply.meta.version, unit: reply.meta.unit))
    }
}
