import Foundation
import GridCore

/// Messages between the broker and its units: 7/MDP worker commands
/// (`MDPW01`) with the grid's extensions (PROTOCOL.md, "Units").
///
/// Every message starts with an empty frame and `MDPW01`, as MDP workers do
/// over a DEALER; on the broker's ROUTER the unit's routing id comes first.
public enum UnitMessage: Sendable, Equatable {
    /// Unit -> broker, first message: the section it serves, its unique name,
    /// and a report of its operations (JSON). The broker answers with `assign`.
    case ready(section: String, unit: String, report: UnitReport)
    /// Broker -> unit: a client request routed to the primary of `route`.
    /// `client` and `envelope` are opaque to the unit and come back in the reply;
    /// `requestID` is the client's request id frame (`RequestWire`), empty when it sent none.
    case request(client: [UInt8], envelope: [UInt8], route: Route, requestID: [UInt8], operation: [UInt8], key: [UInt8], arguments: [[UInt8]])
    /// Unit -> broker: the answer to a request; the broker forwards it to `client`.
    case reply(client: [UInt8], envelope: [UInt8], status: Status, payload: [UInt8], meta: [UInt8])
    /// Either way, when nothing else was sent for a heartbeat interval. From the broker it
    /// carries `echo`: the stamp of the unit's latest REPORT it received, which renews the
    /// unit's lease until that stamp plus the lease (the unit's own clock).
    case heartbeat(echo: UInt64? = nil)
    /// Either way: the sender is leaving (or, from the broker: "you are unknown, send READY again").
    case disconnect
    /// Broker -> unit: every lease the unit now holds (leases not listed are gone),
    /// with the replication endpoints of the units it replicates with.
    case assign(AssignBody)
    /// Unit -> broker, every heartbeat interval (it counts as a heartbeat): what
    /// the unit holds, how far it applied, its replication lag and in-sync backups as
    /// primary, and its figures and lease stamp (`ReportMeta`).
    case report(records: [ReportRecord], meta: ReportMeta)

    public static let header: [UInt8] = Array("MDPW01".utf8)

    public enum Command: UInt8, Sendable {
        case ready = 0x01, request = 0x02, reply = 0x03, heartbeat = 0x04, disconnect = 0x05
        case assign = 0x10, report = 0x11
    }

    public var command: Command {
        switch self {
        case .ready: return .ready
        case .request: return .request
        case .reply: return .reply
        case .heartbeat: return .heartbeat
        case .disconnect: return .disconnect
        case .assign: return .assign
        case .report: return .report
        }
    }

    // MARK: - Encoding

    /// Each command's frame, made once: requests and replies are the hot path.
    private static let commandFrames: [[UInt8]] = (0...UInt8.max).map { [$0] }

    /// The frames, starting with the empty delimiter (routing id not included).
    public var frames: [[UInt8]] {
        let prefix: [[UInt8]] = [[], Self.header, Self.commandFrames[Int(command.rawValue)]]
        switch self {
        case .ready(let section, let unit, let report):
            return prefix + [Array(section.utf8), Array(unit.utf8), report.encoded]
        case .request(let client, let envelope, let route, let requestID, let operation, let key, let arguments):
            // One array, sized once: this runs for every request the broker routes.
            var frames: [[UInt8]] = []
            frames.reserveCapacity(10 + arguments.count)
            frames.append([])
            frames.append(Self.header)
            frames.append(Self.commandFrames[Int(Command.request.rawValue)])
            frames.append(client)
            frames.append([])
            frames.append(envelope)
            frames.append(Self.encode(route))
            frames.append(requestID)
            frames.append(operation)
            frames.append(key)
            frames.append(contentsOf: arguments)
            return frames
        case .reply(let client, let envelope, let status, let payload, let meta):
            return [[], Self.header, Self.commandFrames[Int(Command.reply.rawValue)], client, [], envelope, status.ascii, payload, meta]
        case .heartbeat(let echo):
            return prefix + (echo.map { [BigEndian.bytes($0)] } ?? [])
        case .disconnect:
            return prefix
        case .assign(let body):
            return prefix + [body.encoded]
        case .report(let records, let meta):
            var body = ByteWriter(capacity: records.count * ReportRecord.size)
            for record in records { record.write(to: &body) }
            return prefix + [body.bytes, meta.encoded]
        }
    }

    public static func encode(_ route: Route) -> [UInt8] {
        var writer = ByteWriter(capacity: 12)
        writer.uint32(UInt32(route.partition))
        writer.uint64(route.epoch)
        return writer.bytes
    }

    // MARK: - Decoding

    /// Decodes the frames after the routing id; a malformed message is a `.malformed` error, never a crash.
    public static func decode(_ frames: ArraySlice<[UInt8]>) -> Result<UnitMessage, GridError> {
        var rest = frames
        guard rest.count >= 3 else { return .failure(.malformed("worker message with \(rest.count) frames")) }
        guard rest.removeFirst().isEmpty else { return .failure(.malformed("worker message without the empty delimiter")) }
        guard rest.removeFirst() == header else { return .failure(.malformed("worker message without the MDPW01 header")) }
        let commandFrame = rest.removeFirst()
        guard commandFrame.count == 1, let command = Command(rawValue: commandFrame[0]) else {
            return .failure(.malformed("unknown worker command \(commandFrame.map { String($0, radix: 16) })"))
        }
        switch command {
        case .heartbeat:
            // A unit's HEARTBEAT has no body; the broker's carries the echoed stamp (8 bytes).
            if let echo = rest.first, echo.count == 8 { return .success(.heartbeat(echo: BigEndian.uint64(echo))) }
            return .success(.heartbeat())
        case .disconnect: return .success(.disconnect)
        case .ready:
            let body = Array(rest)
            guard body.count == 3 else {
                return .failure(.malformed("READY needs section, unit name and report (a plain MDP worker is not supported yet)"))
            }
            guard let section = String(validatingUTF8Bytes: body[0]), !section.isEmpty,
                  let unit = String(validatingUTF8Bytes: body[1]), !unit.isEmpty, unit.utf8.count <= 128 else {
                return .failure(.malformed("READY with an invalid section or unit name"))
            }
            guard let report = UnitReport(decoding: body[2]) else { return .failure(.malformed("READY with an unreadable report")) }
            return .success(.ready(section: section, unit: unit, report: report))
        case .request:
            let b = rest.startIndex
            guard rest.count >= 7, rest[b + 1].isEmpty, rest[b + 3].count == 12 else {
                return .failure(.malformed("REQUEST with a bad envelope"))
            }
            guard rest[b + 4].isEmpty || RequestWire.decodeID(rest[b + 4]) != nil else {
                return .failure(.malformed("REQUEST with a bad request id"))
            }
            let route = Route(partition: Int(BigEndian.uint32(rest[b + 3].prefix(4))), epoch: BigEndian.uint64(rest[b + 3].dropFirst(4)))
            return .success(.request(client: rest[b], envelope: rest[b + 2], route: route, requestID: rest[b + 4], operation: rest[b + 5],
                                     key: rest[b + 6], arguments: rest.count > 7 ? Array(rest.dropFirst(7)) : []))
        case .reply:
            let b = rest.startIndex
            guard rest.count == 6, rest[b + 1].isEmpty, let status = Status(ascii: rest[b + 3]) else {
                return .failure(.malformed("REPLY with a bad envelope or status"))
            }
            return .success(.reply(client: rest[b], envelope: rest[b + 2], status: status, payload: rest[b + 4], meta: rest[b + 5]))
        case .assign:
            let body = Array(rest)
            guard body.count == 1, let assign = AssignBody(decoding: body[0]) else { return .failure(.malformed("ASSIGN with an unreadable body")) }
            return .success(.assign(assign))
        case .report:
            let body = Array(rest)
            guard body.count == 2, body[0].count % ReportRecord.size == 0, let meta = ReportMeta(decoding: body[1]) else {
                return .failure(.malformed("REPORT with a bad record list or meta frame"))
            }
            var reader = ByteReader(body[0])
            var records: [ReportRecord] = []
            while !reader.isAtEnd {
                guard let record = ReportRecord(reading: &reader) else { return .failure(.malformed("REPORT with an unknown role")) }
                records.append(record)
            }
            return .success(.report(records: records, meta: meta))
        }
    }
}

/// What a unit tells the broker about itself in READY (JSON).
public struct UnitReport: Sendable, Equatable, Codable {
    /// The version of the unit protocol the unit speaks.
    public var wire: Int
    /// The operations the unit's section serves (`get`, `put`, ... and domain operations).
    public var operations: [String]
    /// The unit's process id, for `spacegrid status`.
    public var pid: Int32
    /// Where the unit publishes its changes (PUB).
    public var publisher: String
    /// Where the unit serves snapshots, catch-ups and acknowledgements (ROUTER).
    public var replication: String
    /// Where the unit takes direct requests from partition-aware clients (ROUTER);
    /// nil from a unit that takes none.
    public var clients: String?
    /// What the unit already holds: nothing for a new process; its partitions
    /// after a broker restart or when it comes back from a pause.
    public var holdings: [ReportRecord]
    /// The process's random id (below 2^53, so any JSON reader keeps it exact): acknowledgements
    /// of a backup count only from the process the broker assigned.
    public var incarnation: UInt64
    /// The unit's clock when it sent this READY: the ASSIGN that answers echoes it (the lease).
    public var stamp: UInt64
    /// The host the unit runs on (a name from the topology's `hosts`, else its advertised
    /// address): the broker keeps a partition's copies on different hosts. Nil from a unit
    /// that does not say (a host of its own).
    public var host: String?

    public static let currentWire = 3

    public init(operations: [String], pid: Int32, publisher: String = "", replication: String = "", clients: String? = nil, holdings: [ReportRecord] = [],
                incarnation: UInt64 = 0, stamp: UInt64 = 0, host: String? = nil, wire: Int = UnitReport.currentWire) {
        self.wire = wire
        self.host = host
        self.incarnation = incarnation
        self.stamp = stamp
        self.clients = clients
        self.operations = operations
        self.pid = pid
        self.publisher = publisher
        self.replication = replication
        self.holdings = holdings
    }

    public var encoded: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array((try? encoder.encode(self)) ?? Data())
    }

    public init?(decoding bytes: [UInt8]) {
        guard let report = try? JSONDecoder().decode(UnitReport.self, from: Data(bytes)) else { return nil }
        self = report
    }
}

/// One partition a unit holds, as REPORT carries it (35 bytes, big-endian):
/// partition u32, role u8, epoch u64, sequence u64, in-sync u8 (a backup: its primary
/// confirmed it), the in-sync mask u8 (a primary: bit i set when the i-th backup of its
/// latest assignment is in sync), and for a primary its lag: sequences its slowest
/// backup is behind (u64) and the age of its oldest unacknowledged change in ms (u32).
public struct ReportRecord: Sendable, Equatable, Codable {
    public var holding: Holding
    public var inSyncMask: UInt8
    public var behind: UInt64
    public var unacknowledgedMilliseconds: UInt32

    static let size = 35

    public init(holding: Holding, inSyncMask: UInt8 = 0, behind: UInt64 = 0, unacknowledgedMilliseconds: UInt32 = 0) {
        self.holding = holding
        self.inSyncMask = inSyncMask
        self.behind = behind
        self.unacknowledgedMilliseconds = unacknowledgedMilliseconds
    }

    func write(to writer: inout ByteWriter) {
        writer.uint32(UInt32(holding.partition))
        writer.uint8(holding.role.rawValue)
        writer.uint64(holding.epoch)
        writer.uint64(holding.sequence)
        writer.uint8(holding.inSync ? 1 : 0)
        writer.uint8(inSyncMask)
        writer.uint64(behind)
        writer.uint32(unacknowledgedMilliseconds)
    }

    init?(reading reader: inout ByteReader) {
        guard let partition = reader.uint32(), let roleByte = reader.uint8(), let role = Role(rawValue: roleByte),
              let epoch = reader.uint64(), let sequence = reader.uint64(), let inSync = reader.uint8(), let mask = reader.uint8(),
              let behind = reader.uint64(), let age = reader.uint32() else { return nil }
        holding = Holding(partition: Int(partition), role: role, epoch: epoch, sequence: sequence, inSync: inSync != 0)
        inSyncMask = mask
        self.behind = behind
        unacknowledgedMilliseconds = age
    }

    // JSON form (in READY): [partition, role, epoch, sequence, inSync, in-sync backups (names)].
    public init(from decoder: Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let partition = try container.decode(Int.self)
        guard let role = Role(rawValue: try container.decode(UInt8.self)) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown role")
        }
        holding = Holding(partition: partition, role: role, epoch: try container.decode(UInt64.self),
                          sequence: try container.decode(UInt64.self), inSync: try container.decode(Bool.self),
                          inSyncBackups: container.isAtEnd ? [] : try container.decode([String].self))
        inSyncMask = 0
        behind = 0
        unacknowledgedMilliseconds = 0
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(holding.partition)
        try container.encode(holding.role.rawValue)
        try container.encode(holding.epoch)
        try container.encode(holding.sequence)
        try container.encode(holding.inSync)
        try container.encode(holding.inSyncBackups)
    }
}

/// REPORT's second frame (40 bytes, big-endian): requests and changes refused for an old
/// epoch since the unit started (u64); the unit's clock when it sent the report (u64: the
/// stamp the broker echoes to renew the lease); the number of the last ASSIGN it applied
/// (u64: in-sync masks count only when it is the broker's latest); entries loaded from the
/// database so far while a cold start runs (u64; all ones when none runs); the handshakes
/// its sockets refused for an unknown CURVE key (u64).
public struct ReportMeta: Sendable, Equatable {
    public var fenced: UInt64
    public var stamp: UInt64
    public var assign: UInt64
    public var loading: UInt64?
    public var refusedKeys: UInt64

    public init(fenced: UInt64 = 0, stamp: UInt64 = 0, assign: UInt64 = 0, loading: UInt64? = nil, refusedKeys: UInt64 = 0) {
        self.fenced = fenced
        self.stamp = stamp
        self.assign = assign
        self.loading = loading
        self.refusedKeys = refusedKeys
    }

    var encoded: [UInt8] {
        var writer = ByteWriter(capacity: 40)
        writer.uint64(fenced)
        writer.uint64(stamp)
        writer.uint64(assign)
        writer.uint64(loading ?? UInt64.max)
        writer.uint64(refusedKeys)
        return writer.bytes
    }

    init?(decoding frame: [UInt8]) {
        var reader = ByteReader(frame)
        guard frame.count == 40, let fenced = reader.uint64(), let stamp = reader.uint64(), let assign = reader.uint64(),
              let loading = reader.uint64(), let refused = reader.uint64() else { return nil }
        self.init(fenced: fenced, stamp: stamp, assign: assign, loading: loading == UInt64.max ? nil : loading, refusedKeys: refused)
    }
}

/// ASSIGN's body (JSON): the unit's assignments and its peers' replication endpoints.
public struct AssignBody: Sendable, Equatable, Codable {
    public struct Item: Sendable, Equatable, Codable {
        public var partition: Int
        public var epoch: UInt64
        /// `primary` or `backup`.
        public var role: String
        public var primary: String
        public var backups: [String]
        /// The backups the broker counts as in sync (a primary waits for them from the start).
        public var inSync: [String]
        /// A primary lease to load from the database first: the sequence to continue at or above.
        public var load: UInt64?
        /// A primary lease being handed over: the unit taking it (the primary stops serving it).
        public var handover: String?

        enum CodingKeys: String, CodingKey {
            case partition, epoch, role, primary, backups, load, handover
            case inSync = "in_sync"
        }
    }

    public struct Peer: Sendable, Equatable, Codable {
        public var publisher: String
        public var replication: String
        /// The unit's process (acknowledgements count only from it).
        public var incarnation: UInt64

        public init(publisher: String, replication: String, incarnation: UInt64 = 0) {
            self.publisher = publisher
            self.replication = replication
            self.incarnation = incarnation
        }
    }

    /// Grows by one with every ASSIGN the broker sends this registration: the unit reports
    /// the last one it applied, so the broker knows which backup list a mask refers to.
    public var assign: UInt64
    /// The stamp of the unit's latest READY or REPORT the broker received (renews the lease).
    public var stamp: UInt64
    public var assignments: [Item]
    /// Endpoints of every unit named in `assignments`.
    public var peers: [String: Peer]

    public init(assign: UInt64 = 0, stamp: UInt64 = 0, assignments: [Assignment], peers: [String: Peer]) {
        self.assign = assign
        self.stamp = stamp
        self.assignments = assignments.map {
            Item(partition: $0.lease.partition, epoch: $0.lease.epoch, role: $0.lease.role == .primary ? "primary" : "backup",
                 primary: $0.primary, backups: $0.backups, inSync: $0.inSync, load: $0.load, handover: $0.handover)
        }
        self.peers = peers
    }

    /// The assignments as core values; nil when a role is unknown.
    public var coreAssignments: [Assignment]? {
        var result: [Assignment] = []
        for item in assignments {
            guard item.partition >= 0, item.partition <= Int(UInt32.max) else { return nil }
            guard let role: Role = item.role == "primary" ? .primary : item.role == "backup" ? .backup : nil else { return nil }
            var incarnations: [String: UInt64] = [:]
            for backup in item.backups { incarnations[backup] = peers[backup]?.incarnation ?? 0 }
            result.append(Assignment(lease: Lease(partition: item.partition, epoch: item.epoch, role: role), primary: item.primary, backups: item.backups,
                                     inSync: item.inSync, incarnations: incarnations, load: role == .primary ? item.load : nil,
                                     handover: role == .primary ? item.handover : nil))
        }
        return result
    }

    public var encoded: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array((try? encoder.encode(self)) ?? Data())
    }

    public init?(decoding bytes: [UInt8]) {
        guard let body = try? JSONDecoder().decode(AssignBody.self, from: Data(bytes)), body.coreAssignments != nil else { return nil }
        self = body
    }
}
