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
    /// Broker -> unit: every lease the unit now holds; leases not listed are gone.
    case assign(leases: [Lease])

    public static let header: [UInt8] = Array("MDPW01".utf8)

    public enum Command: UInt8, Sendable {
        case ready = 0x01, request = 0x02, reply = 0x03, heartbeat = 0x04, disconnect = 0x05
        case assign = 0x10
    }

    public var command: Command {
        switch self {
        case .ready: return .ready
        case .request: return .request
        case .reply: return .reply
        case .heartbeat: return .heartbeat
        case .disconnect: return .disconnect
        case .assign: return .assign
        }
    }

    // MARK: - Encoding

    /// The frames, starting with the empty delimiter (routing id not included).
    public var frames: [[UInt8]] {
        let prefix: [[UInt8]] = [[], Self.header, [command.rawValue]]
        switch self {
        case .ready(let section, let unit, let report):
            return prefix + [Array(section.utf8), Array(unit.utf8), report.encoded]
        case .request(let client, let envelope, let route, let operation, let key, let arguments):
            return prefix + [client, [], envelope, Self.encode(route), operation, key] + arguments
        case .reply(let client, let envelope, let status, let payload, let meta):
            return prefix + [client, [], envelope, status.ascii, payload, meta]
        case .heartbeat, .disconnect:
            return prefix
        case .assign(let leases):
            var body: [UInt8] = []
            body.reserveCapacity(leases.count * 13)
            for lease in leases {
                body += BigEndian.bytes(UInt32(lease.partition)) + BigEndian.bytes(lease.epoch) + [lease.role.rawValue]
            }
            return prefix + [body]
        }
    }

    static func encode(_ route: Route) -> [UInt8] {
        BigEndian.bytes(UInt32(route.partition)) + BigEndian.bytes(route.epoch)
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
        let body = Array(rest)
        switch command {
        case .heartbeat: return .success(.heartbeat)
        case .disconnect: return .success(.disconnect)
        case .ready:
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
            guard body.count >= 6, body[1].isEmpty, body[3].count == 12 else {
                return .failure(.malformed("REQUEST with a bad envelope"))
            }
            let route = Route(partition: Int(BigEndian.uint32(body[3].prefix(4))), epoch: BigEndian.uint64(body[3].dropFirst(4)))
            return .success(.request(client: body[0], envelope: body[2], route: route, operation: body[4], key: body[5], arguments: Array(body.dropFirst(6))))
        case .reply:
            guard body.count == 6, body[1].isEmpty, let status = Status(ascii: body[3]) else {
                return .failure(.malformed("REPLY with a bad envelope or status"))
            }
            return .success(.reply(client: body[0], envelope: body[2], status: status, payload: body[4], meta: body[5]))
        case .assign:
            guard body.count == 1, body[0].count % 13 == 0 else { return .failure(.malformed("ASSIGN with a bad lease list")) }
            var leases: [Lease] = []
            var index = body[0].startIndex
            while index < body[0].endIndex {
                let record = body[0][index..<index + 13]
                guard let role = Role(rawValue: record[index + 12]) else { return .failure(.malformed("ASSIGN with an unknown role")) }
                leases.append(Lease(partition: Int(BigEndian.uint32(record.prefix(4))), epoch: BigEndian.uint64(record.dropFirst(4).prefix(8)), role: role))
                index += 13
            }
            return .success(.assign(leases: leases))
        }
    }
}

/// What a unit tells the broker about itself in READY.
public struct UnitReport: Sendable, Equatable, Codable {
    /// The version of the unit protocol the unit speaks.
    public var wire: Int
    /// The operations the unit's section serves (`get`, `put`, ... and domain operations).
    public var operations: [String]
    /// The unit's process id, for `spacegrid status`.
    public var pid: Int32

    public static let currentWire = 1

    public init(operations: [String], pid: Int32, wire: Int = UnitReport.currentWire) {
        self.wire = wire
        self.operations = operations
        self.pid = pid
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
