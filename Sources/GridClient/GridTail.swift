import GridCore
import GridWire
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// What `spacegrid tail` shows: filters on section, partition and key.
public struct TailFilter: Sendable, Equatable {
    /// Only this section (exact name).
    public var section: String?
    /// Only this partition (in every section, unless `section` is set).
    public var partition: Int?
    /// Only this key (exact UTF-8 bytes).
    public var key: [UInt8]?
    /// Leave grid events out (the tail still follows them to find new units).
    public var changesOnly: Bool
    /// Also show invalidation events (left out by default: every change has one).
    public var invalidations: Bool

    public init(section: String? = nil, partition: Int? = nil, key: [UInt8]? = nil, changesOnly: Bool = false, invalidations: Bool = false) {
        self.section = section
        self.partition = partition
        self.key = key
        self.changesOnly = changesOnly
        self.invalidations = invalidations
    }
}

/// A grid event from the broker's events socket: its topic (`grid.unit.dead`)
/// and the fields of its JSON object (which include `event` and `time_ms`).
public struct GridEvent: Sendable, Equatable {
    public var topic: String
    public var fields: [String: JSONValue]

    public init(topic: String, fields: [String: JSONValue]) {
        self.topic = topic
        self.fields = fields
    }

    /// When the broker published it (milliseconds since 1970).
    public var timeMs: Int64? { fields["time_ms"]?.intValue }
    public var section: String? { fields["section"]?.stringValue }
    public var partition: Int? { fields["partition"]?.intValue.map { Int($0) } }
    public var unit: String? { fields["unit"]?.stringValue }
}

/// One line of `spacegrid tail`.
public enum TailEvent: Sendable, Equatable {
    /// A change a primary published; `timeMs` is when the tail received it.
    case change(section: String, change: Change, timeMs: Int64)
    /// A light invalidation event (only with `TailFilter.invalidations`).
    case invalidation(ReplicationWire.Invalidation, timeMs: Int64)
    /// A grid event from the broker.
    case grid(GridEvent)
    /// Changes of a partition that never arrived (PUB/SUB drops when a subscriber
    /// falls behind): sequences `first...last` of `epoch`.
    case gap(section: String, partition: Int, epoch: UInt64, first: UInt64, last: UInt64, timeMs: Int64)
    /// The tail found another broker process answering (a restart): grid events it
    /// published before the tail reconnected to its events socket were missed.
    case brokerRestarted(pid: Int32, previous: Int32, timeMs: Int64)
}

/// Why a tail could not start or stopped.
public enum GridTailError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A ZeroMQ call failed.
    case zmq(ZMQError)
    /// The broker did not answer `grid status` in time.
    case unreachable(endpoint: String, milliseconds: Int)
    /// The broker answered `grid status` with an error.
    case refused(GridError)
    /// The broker's status could not be read.
    case unreadableStatus
    /// A filter names a section the grid does not have.
    case unknownSection(String, known: [String])
    /// A filter names a partition no (matching) section has.
    case noSuchPartition(Int, section: String?, count: Int)

    public var description: String {
        switch self {
        case .zmq(let error): return "\(error)"
        case .unreachable(let endpoint, let milliseconds):
            return "no answer to `grid status` from \(endpoint) within \(milliseconds) ms (is `spacegrid up` running?)"
        case .refused(let error): return "the broker refused `grid status`: \(error)"
        case .unreadableStatus: return "the broker's status reply is not readable"
        case .unknownSection(let name, let known):
            return "the grid has no section '\(name)' (it has \(known.joined(separator: ", ")))"
        case .noSuchPartition(let partition, let section, let count):
            guard let section else { return "no section has a partition \(partition) (the largest has 0...\(max(0, count - 1)))" }
            return "section '\(section)' has no partition \(partition) (its partitions are 0...\(max(0, count - 1)))"
        }
    }
}

/// Follows a grid live: every unit's change stream and the broker's grid events.
///
/// Two SUB sockets, because a SUB socket's subscriptions apply to all of its
/// connections: one on the broker's events endpoint (`grid.`), one connected to
/// every unit's publisher (`section.partition` prefixes). When a unit joins
/// (`grid.unit.joined`), the tail connects to its publisher, and it asks
/// `grid status` again every few seconds for publishers it may have missed,
/// so it keeps following through failovers, restarts and broker restarts.
///
/// Like its sockets, a tail belongs to the thread that created it: call
/// `next(timeoutMilliseconds:)` in a loop on that thread.
public final class GridTail {
    public let endpoint: String
    public let filter: TailFilter
    /// The broker's events endpoint, as connected.
    public private(set) var eventsEndpoint: String = ""
    /// The publisher each unit was last seen with, as connected.
    public private(set) var publishers: [String: String] = [:]
    /// How often `grid status` is asked again.
    public var refreshMilliseconds: UInt64 = 3_000
    /// Messages that could not be decoded (dropped and counted).
    public private(set) var malformed: UInt64 = 0

    private let connection: GridConnection
    private let events: Socket
    private let changes: Socket
    private var connectedEvents: Set<String> = []
    private var connectedPublishers: Set<String> = []
    /// Status refreshes in a row that did not list an endpoint we are connected to.
    private var absences: [String: Int] = [:]
    private var subscriptions: Set<[UInt8]> = []
    /// The filters and the sequence marks: the tail's decisions, without sockets.
    public private(set) var selector: TailSelector
    private var queue: [TailEvent] = []
    private var queueHead = 0
    private var statusRequest: (correlation: UInt64, sentAt: UInt64)?
    private var nextRefresh: UInt64 = 0
    private var closed = false
    /// The broker process last seen in a status, and its uptime then.
    private var broker: (pid: Int32, uptimeMs: UInt64)?

    /// Most messages read from one socket per wake-up, so neither starves the other.
    static let drainBatch = 1_000

    /// Asks the broker at `endpoint` for its status, then connects to its events
    /// and to every unit's publisher. Throws `.unreachable` when the broker does
    /// not answer within `timeoutMilliseconds`.
    public init(context: Context, endpoint: String, filter: TailFilter = TailFilter(), timeoutMilliseconds: Int = 5_000) throws(GridTailError) {
        self.endpoint = endpoint
        self.filter = filter
        selector = TailSelector(filter: filter)
        do {
            connection = try GridConnection(context: context, endpoint: endpoint)
            events = try Socket(context, .sub, linger: 0)
            changes = try Socket(context, .sub, linger: 0)
            for socket in [events, changes] {
                try socket.setHighWaterMarks(send: 1_000, receive: 200_000)
                try context.curve?.connect(socket)
            }
            // A restarted broker's first events come within milliseconds: reconnect at once, no back-off.
            try events.setReconnectInterval(milliseconds: 50, maximum: 0)
            try changes.setReconnectInterval(milliseconds: 100, maximum: 1_000)
            // Joins and departures are needed to follow units even when grid events are not shown.
            for prefix in filter.changesOnly ? ["grid.unit."] : ["grid."] {
                try events.subscribe(Array(prefix.utf8))
            }
        } catch {
            throw .zmq(error)
        }
        let reply: GridReply
        do {
            reply = try connection.call("grid", "status", key: "-", timeoutMilliseconds: timeoutMilliseconds)
        } catch {
            close()
            throw .zmq(error)
        }
        if let error = reply.error {
            close()
            throw error.status == .timeout ? .unreachable(endpoint: endpoint, milliseconds: timeoutMilliseconds) : .refused(error)
        }
        guard let status = GridStatus(decoding: reply.payload) else {
            close()
            throw .unreadableStatus
        }
        do {
            try validateFilter(against: status)
            try absorb(status)
        } catch {
            close()
            throw error
        }
        nextRefresh = monotonicMilliseconds() + refreshMilliseconds
    }

    deinit { close() }

    public func close() {
        guard !closed else { return }
        closed = true
        events.close()
        changes.close()
        connection.close()
    }

    /// The next event, waiting up to `timeoutMilliseconds`; nil when none came.
    public func next(timeoutMilliseconds: Int) throws(GridTailError) -> TailEvent? {
        let deadline = monotonicMilliseconds() + UInt64(max(0, timeoutMilliseconds))
        var poller = Poller()
        poller.add(events)
        poller.add(changes)
        while true {
            if let event = dequeue() { return event }
            try drain()
            if let event = dequeue() { return event }
            try refresh(now: monotonicMilliseconds())
            let now = monotonicMilliseconds()
            guard now < deadline else { return nil }
            do {
                // Wake up at least every 100 ms for the status refresh.
                try poller.poll(timeoutMilliseconds: Int(min(deadline - now, 100)))
            } catch {
                throw .zmq(error)
            }
        }
    }

    // MARK: - Receiving

    private func dequeue() -> TailEvent? {
        guard queueHead < queue.count else {
            if !queue.isEmpty {
                queue.removeAll(keepingCapacity: true)
                queueHead = 0
            }
            return nil
        }
        let event = queue[queueHead]
        queueHead += 1
        return event
    }

    private func drain() throws(GridTailError) {
        do {
            for _ in 0..<Self.drainBatch {
                guard let frames = try events.receive() else { break }
                try onGridMessage(frames)
            }
            for _ in 0..<Self.drainBatch {
                guard let frames = try changes.receive() else { break }
                onUnitMessage(frames)
            }
        } catch {
            throw .zmq(error)
        }
    }

    private func onUnitMessage(_ frames: [[UInt8]]) {
        let now = wallClockMilliseconds()
        if let published = ReplicationWire.decode(frames) {
            queue.append(contentsOf: selector.onChange(section: published.section, published.change, timeMs: now))
        } else if let invalidation = ReplicationWire.decodeInvalidation(frames) {
            if selector.shows(invalidation) { queue.append(.invalidation(invalidation, timeMs: now)) }
        } else {
            malformed += 1
        }
    }

    private func onGridMessage(_ frames: [[UInt8]]) throws(ZMQError) {
        guard frames.count == 2, case let topic = String(decoding: frames[0], as: UTF8.self), topic.utf8.elementsEqual(frames[0]),
              let fields = JSONValue.object(parsing: frames[1]) else {
            malformed += 1
            return
        }
        let event = GridEvent(topic: topic, fields: fields)
        switch topic {
        case "grid.unit.joined":
            if let unit = event.unit, let publisher = fields["publisher"]?.stringValue, !publisher.isEmpty {
                try follow(unit: unit, publisher: connectable(publisher))
            }
        case "grid.unit.dead", "grid.unit.left":
            if let unit = event.unit { try unfollow(unit: unit) }
        default:
            break
        }
        guard let shown = selector.shown(event) else { return }
        queue.append(.grid(shown))
    }

    private func validateFilter(against status: GridStatus) throws(GridTailError) {
        if let section = filter.section, !status.sections.contains(where: { $0.name == section }) {
            throw .unknownSection(section, known: status.sections.map(\.name))
        }
        if let partition = filter.partition {
            let counts = status.sections.filter { selector.matches(section: $0.name) }.map(\.partitions.count)
            let largest = counts.max() ?? 0
            guard partition >= 0, partition < largest else {
                throw .noSuchPartition(partition, section: filter.section, count: largest)
            }
        }
    }

    // MARK: - Status and connections

    /// Connects to what a status lists: the events endpoint, every unit's publisher, the subscriptions.
    private func absorb(_ status: GridStatus) throws(GridTailError) {
        if let known = broker, known.pid != status.brokerPid || status.uptimeMs < known.uptimeMs, !filter.changesOnly {
            queue.append(.brokerRestarted(pid: status.brokerPid, previous: known.pid, timeMs: wallClockMilliseconds()))
        }
        broker = (status.brokerPid, status.uptimeMs)
        do {
            if !status.events.isEmpty {
                let events = connectable(status.events)
                if !connectedEvents.contains(events) {
                    try self.events.connect(events)
                    connectedEvents.insert(events)
                    eventsEndpoint = events
                }
            }
            var listed: Set<String> = []
            for section in status.sections {
                selector.learn(section: section.name, partitioning: section.partitioning, partitions: section.partitions.count)
                for prefix in selector.subscriptionPrefixes(section: section.name) where !subscriptions.contains(prefix) {
                    try changes.subscribe(prefix)
                    subscriptions.insert(prefix)
                }
                for unit in section.units where !unit.publisher.isEmpty {
                    let publisher = connectable(unit.publisher)
                    listed.insert(publisher)
                    try follow(unit: unit.name, publisher: publisher)
                }
            }
            // A publisher missing from two statuses in a row is gone (one may be older than a join event).
            for endpoint in connectedPublishers where !listed.contains(endpoint) {
                absences[endpoint, default: 0] += 1
                if absences[endpoint, default: 0] >= 2 {
                    disconnect(publisher: endpoint)
                    publishers = publishers.filter { $0.value != endpoint }
                }
            }
        } catch {
            throw .zmq(error)
        }
    }

    private func follow(unit: String, publisher: String) throws(ZMQError) {
        absences[publisher] = 0
        if let old = publishers[unit], old != publisher {
            disconnect(publisher: old)
        }
        publishers[unit] = publisher
        guard !connectedPublishers.contains(publisher) else { return }
        try changes.connect(publisher)
        connectedPublishers.insert(publisher)
    }

    private func unfollow(unit: String) throws(ZMQError) {
        guard let publisher = publishers.removeValue(forKey: unit) else { return }
        disconnect(publisher: publisher)
    }

    private func disconnect(publisher: String) {
        guard connectedPublishers.remove(publisher) != nil else { return }
        absences[publisher] = nil
        // Fails only when the endpoint is not connected: nothing to undo.
        try? changes.disconnect(publisher)
    }

    /// An endpoint a process may connect to: a wildcard bind host becomes the broker's host.
    func connectable(_ endpoint: String) -> String {
        guard endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":") else { return endpoint }
        let host = endpoint[endpoint.index(endpoint.startIndex, offsetBy: 6)..<colon]
        guard ["*", "0.0.0.0", "[::]", "::"].contains(String(host)) else { return endpoint }
        var brokerHost = "127.0.0.1"
        if self.endpoint.hasPrefix("tcp://"), let brokerColon = self.endpoint.lastIndex(of: ":") {
            let candidate = String(self.endpoint[self.endpoint.index(self.endpoint.startIndex, offsetBy: 6)..<brokerColon])
            if !["*", "0.0.0.0", "[::]", "::", ""].contains(candidate) { brokerHost = candidate }
        }
        return "tcp://\(brokerHost)\(endpoint[colon...])"
    }

    /// Asks `grid status` again every `refreshMilliseconds` without blocking; reads the answer when it comes.
    private func refresh(now: UInt64) throws(GridTailError) {
        if let pending = statusRequest {
            if let status = try receiveStatus(correlation: pending.correlation) {
                statusRequest = nil
                try absorb(status)
            } else if now - pending.sentAt > 5_000 {
                // No answer in time (the broker restarts): ask again at the next refresh.
                statusRequest = nil
            }
        }
        if statusRequest == nil, now >= nextRefresh {
            do {
                let correlation = try connection.send("grid", "status", key: Array("-".utf8))
                statusRequest = (correlation, now)
            } catch {
                throw .zmq(error)
            }
            nextRefresh = now + refreshMilliseconds
        }
    }

    /// The status answering `correlation`, when it has come (without waiting).
    private func receiveStatus(correlation: UInt64) throws(GridTailError) -> GridStatus? {
        do {
            while let (received, reply) = try connection.receive(timeoutMilliseconds: 0) {
                // Late answers to requests that timed out are not ours any more.
                guard received == correlation else { continue }
                guard reply.error == nil, let status = GridStatus(decoding: reply.payload) else {
                    statusRequest = nil
                    return nil
                }
                return status
            }
            return nil
        } catch {
            throw .zmq(error)
        }
    }
}

/// Milliseconds since 1970 on the wall clock (what event times use).
public func wallClockMilliseconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000
}
