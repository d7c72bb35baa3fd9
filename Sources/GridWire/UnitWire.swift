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
    /// `client` and `envelope` are opaque to the unit and come back in the reply.
    case request(client: [UInt8], envelope: [UInt8], route: Route, operation: [UInt8], key: [UInt8], arguments: [[UInt8]])
    /// Unit -> broker: the answer to a request; the broker forwards it to `client`.
    case reply(client: [UInt8], envelope: [UInt8], status: Status, payload: [UInt8], meta: [UInt8])
    /// Either way, when nothing else was sent for a heartbeat interval.
    case heartbeat
    /// Either way: the sender is leaving (or, from the broker: "you are unknown, send READY again").
    case disconnect
    /// Broker -> unit: every lease the unit now holds (leases not listed are gone),
    /// with the replication endpoints of the units it replicates with.
    case assign(AssignBody)
    /// Unit -> broker, every heartbeat interval (it counts as a heartbeat): what
    /// the unit holds, how far it applied, its replication lag as primary, and how
    /// many requests and changes it refused for an old epoch (fencing) since it started,
    /// and, while a cold start is under way, how many entries it loaded so far.
    case report(records: [ReportRecord], fenced: UInt64 = 0, loading: UInt64? = nil)

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
        case .request(let client, let envelope, let route, let operation, let key, let arguments):
            // One array, sized once: this runs for every request the broker routes.
            var frames: [[UInt8]] = []
            frames.reserveCapacity(9 + arguments.count)
            frames.append([])
            frames.append(Self.header)
            frames.append(Self.commandFrames[Int(Command.request.rawValue)])
            frames.append(client)
            frames.append([])
            frames.append(envelope)
            frames.append(Self.encode(route))
            frames.append(operation)
            frames.append(key)
            frames.append(contentsOf: arguments)
            return frames
        case .reply(let client, let envelope, let status, let payload, let meta):
            return [[], Self.header, Self.commandFrames[Int(Command.reply.rawValue)], client, [], envelope, status.ascii, payload, meta]
        case .heartbeat, .disconnect:
            return prefix
        case .assign(let body):
            return prefix + [body.encoded]
        case .report(let records, let fenced, let loading):
            var body = ByteWriter(capacity: records.count * ReportRecord.size)
            for record in records { record.write(to: &body) }
            // The loading frame only while loading: older brokers read two frames.
            return prefix + [body.bytes, BigEndian.bytes(fenced)] + (loading.map { [BigEndian.bytes($0)] } ?? [])
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
        case .heartbeat: return .success(.heartbeat)
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
            guard rest.count >= 6, rest[b + 1].isEmpty, rest[b + 3].count == 12 else {
                return .failure(.malformed("REQUEST with a bad envelope"))
            }
            let route = Route(partition: Int(BigEndian.uint32(rest[b + 3].prefix(4))), epoch: BigEndian.uint64(rest[b + 3].dropFirst(4)))
            return .success(.request(client: rest[b], envelope: rest[b + 2], route: route, operation: rest[b + 4], key: rest[b + 5],
                                     arguments: rest.count > 6 ? Array(rest.dropFirst(6)) : []))
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
            guard (1...3).contains(body.count), body.dropFirst().allSatisfy({ $0.count == 8 }), body[0].count % ReportRecord.size == 0 else {
                return .failure(.malformed("REPORT with a bad record list"))
            }
            var reader = ByteReader(body[0])
            var records: [ReportRecord] = []
            while !reader.isAtEnd {
                guard let record = ReportRecord(reading: &reader) else { return .failure(.malformed("REPORT with an unknown role")) }
                records.append(record)
            }
            return .success(.report(records: records, fenced: body.count >= 2 ? BigEndian.uint64(body[1]) : 0,
                                    loading: body.count == 3 ? BigEndian.uint64(body[2]) : nil))
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

    public static let currentWire = 2

    public init(operations: [String], pid: Int32, publisher: String = "", replication: String = "", clients: String? = nil, holdings: [ReportRecord] = [], wire: Int = UnitReport.currentWire) {
        self.wire = wire
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

/// One partition a unit holds, as REPORT carries it (34 bytes, big-endian):
/// partition u32, role u8, epoch u64, sequence u64, in-sync u8, and for a
/// primary its lag: sequences its slowest backup is behind (u64) and the age
/// of its oldest unacknowledged change in milliseconds (u32).
public struct ReportRecord: Sendable, Equatable, Codable {
    public var holding: Holding
    public var behind: UInt64
    public var unacknowledgedMilliseconds: UInt32

    static let size = 34

    public init(holding: Holding, behind: UInt64 = 0, unacknowledgedMilliseconds: UInt32 = 0) {
        self.holding = holding
        self.behind = behind
        self.unacknowledgedMilliseconds = unacknowledgedMilliseconds
    }

    func write(to writer: inout ByteWriter) {
        writer.uint32(UInt32(holding.partition))
        writer.uint8(holding.role.rawValue)
        writer.uint64(holding.epoch)
        writer.uint64(holding.sequence)
        writer.uint8(holding.inSync ? 1 : 0)
        writer.uint64(behind)
        writer.uint32(unacknowledgedMilliseconds)
    }

    init?(reading reader: inout ByteReader) {
        guard let partition = reader.uint32(), let roleByte = reader.uint8(), let role = Role(rawValue: roleByte),
              let epoch = reader.uint64(), let sequence = reader.uint64(), let inSync = reader.uint8(),
              let behind = reader.uint64(), let age = reader.uint32() else { return nil }
        holding = Holding(partition: Int(partition), role: role, epoch: epoch, sequence: sequence, inSync: inSync != 0)
        self.behind = behind
        unacknowledgedMilliseconds = age
    }

    // JSON form (in READY): [partition, role, epoch, sequence, inSync].
    public init(from decoder: Decoder) throws {
        var container = try decoder.unkeyedContainer()
        let partition = try container.decode(Int.self)
        guard let role = Role(rawValue: try container.decode(UInt8.self)) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown role")
        }
        holding = Holding(partition: partition, role: role, epoch: try container.decode(UInt64.self),
                          sequence: try container.decode(UInt64.self), inSync: try container.decode(Bool.self))
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
    }

    public struct Peer: Sendable, Equatable, Codable {
        public var publisher: String
        public var replication: String

        public init(publisher: String, replication: String) {
            self.publisher = publisher
            self.replication = replication
        }
    }

    public var assignments: [Item]
    /// Endpoints of every unit named in `assignments`.
    public var peers: [String: Peer]

    public init(assignments: [Assignment], peers: [String: Peer]) {
        self.assignments = assignments.map {
            Item(partition: $0.lease.partition, epoch: $0.lease.epoch, role: $0.lease.role == .primary ? "primary" : "backup",
                 primary: $0.primary, backups: $0.backups)
        }
        self.peers = peers
    }

    /// The assignments as core values; nil when a role is unknown.
    public var coreAssignments: [Assignment]? {
        var result: [Assignment] = []
        for item in assignments {
            guard item.partition >= 0, item.partition <= Int(UInt32.max) else { return nil }
            guard let role: Role = item.role == "primary" ? .primary : item.role == "backup" ? .backup : nil else { return nil }
            result.append(Assignment(lease: Lease(partition: item.partition, epoch: item.epoch, role: role), primary: item.primary, backups: item.backups))
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
