import GridCore

/// Request ids and what partitions remember of them, on the wire (PROTOCOL.md 1.2, 10.2).
///
/// - The request id frame (native, direct and unit requests; MDP after `RID:`):
///   `sequence u64 | floor u64 | client id (1 to 64 bytes)`.
/// - A request record (a change's, in PUB messages, CHANGES and the replication log):
///   `sequence u64 | floor u64 | status u32 | version u64 | client length u8 | client | payload (u32-prefixed)`.
/// - A request table (the last chunk of a snapshot): per client
///   `client length u8 | client | floor u64 | evicted-through u64 | last-used u64 | count u32`,
///   then per reply `sequence u64 | recorded-at u64 | status u32 | version u64 | payload (u32-prefixed)`.
public enum RequestWire {
    /// The prefix that marks an MDP body frame as a request id rather than an operation.
    public static let mdpPrefix: [UInt8] = Array("RID:".utf8)

    // MARK: - Request ids

    public static func encode(_ id: RequestID) -> [UInt8] {
        var writer = ByteWriter(capacity: 16 + id.client.count)
        writer.uint64(id.sequence)
        writer.uint64(id.floor)
        writer.bytes.append(contentsOf: id.client)
        return writer.bytes
    }

    /// Decodes a request id frame; nil when it is not one (too short, no client, a client over 64 bytes).
    public static func decodeID<Bytes: Collection>(_ frame: Bytes) -> RequestID? where Bytes.Element == UInt8 {
        let count = frame.count
        guard count > 16, count - 16 <= RequestID.maximumClientBytes else { return nil }
        let start = frame.startIndex
        let floorStart = frame.index(start, offsetBy: 8)
        let clientStart = frame.index(start, offsetBy: 16)
        return RequestID(client: Array(frame[clientStart...]), sequence: BigEndian.uint64(frame[start..<floorStart]),
                         floor: BigEndian.uint64(frame[floorStart..<clientStart]))
    }

    // MARK: - Records

    static func write(_ record: RequestRecord, to writer: inout ByteWriter) {
        writer.uint64(record.id.sequence)
        writer.uint64(record.id.floor)
        writer.uint32(UInt32(record.reply.status.rawValue))
        writer.uint64(record.reply.version)
        writer.uint8(UInt8(record.id.client.count))
        writer.bytes.append(contentsOf: record.id.client)
        writer.lengthPrefixed(record.reply.payload)
    }

    static func readRecord(_ reader: inout ByteReader) -> RequestRecord? {
        guard let sequence = reader.uint64(), let floor = reader.uint64(), let statusValue = reader.uint32(),
              let status = Status(rawValue: UInt16(truncatingIfNeeded: statusValue)), statusValue <= UInt32(UInt16.max),
              let version = reader.uint64(), let clientLength = reader.uint8(), clientLength > 0,
              Int(clientLength) <= RequestID.maximumClientBytes, reader.remaining >= Int(clientLength) else { return nil }
        let client = Array(reader.bytes[reader.index..<reader.index + Int(clientLength)])
        reader.index += Int(clientLength)
        guard let payload = reader.lengthPrefixed() else { return nil }
        return RequestRecord(id: RequestID(client: client, sequence: sequence, floor: floor),
                             reply: RecordedReply(status: status, payload: payload, version: version))
    }

    /// A record alone in a frame (the optional last frame of a PUB change).
    public static func encode(_ record: RequestRecord) -> [UInt8] {
        var writer = ByteWriter(capacity: 40 + record.id.client.count + record.reply.payload.count)
        write(record, to: &writer)
        return writer.bytes
    }

    public static func decodeRecord(_ frame: [UInt8]) -> RequestRecord? {
        var reader = ByteReader(frame)
        guard let record = readRecord(&reader), reader.isAtEnd else { return nil }
        return record
    }

    // MARK: - Tables

    public static func encode(_ table: RequestTable) -> [UInt8] {
        var writer = ByteWriter()
        for (client, window) in table.exported {
            writer.uint8(UInt8(client.count))
            writer.bytes.append(contentsOf: client)
            writer.uint64(window.floor)
            writer.uint64(window.evictedThrough)
            writer.uint64(window.lastUsed)
            writer.uint32(UInt32(window.replies.count))
            for (sequence, entry) in window.replies.sorted(by: { $0.key < $1.key }) {
                writer.uint64(sequence)
                writer.uint64(entry.recordedAt)
                writer.uint32(UInt32(entry.reply.status.rawValue))
                writer.uint64(entry.reply.version)
                writer.lengthPrefixed(entry.reply.payload)
            }
        }
        return writer.bytes
    }

    public static func decodeTable(_ frame: [UInt8]) -> RequestTable? {
        var reader = ByteReader(frame)
        var imported: [(client: [UInt8], window: RequestTable.Window)] = []
        while !reader.isAtEnd {
            guard let length = reader.uint8(), length > 0, Int(length) <= RequestID.maximumClientBytes, reader.remaining >= Int(length) else { return nil }
            let client = Array(reader.bytes[reader.index..<reader.index + Int(length)])
            reader.index += Int(length)
            guard let floor = reader.uint64(), let evicted = reader.uint64(), let lastUsed = reader.uint64(), let count = reader.uint32(),
                  Int(count) <= reader.remaining / 30 else { return nil }
            var window = RequestTable.Window(floor: floor, evictedThrough: evicted, lastUsed: lastUsed)
            for _ in 0..<count {
                guard let sequence = reader.uint64(), let recordedAt = reader.uint64(), let statusValue = reader.uint32(),
                      statusValue <= UInt32(UInt16.max), let status = Status(rawValue: UInt16(statusValue)),
                      let version = reader.uint64(), let payload = reader.lengthPrefixed() else { return nil }
                window.replies[sequence] = RequestTable.Entry(reply: RecordedReply(status: status, payload: payload, version: version), recordedAt: recordedAt)
            }
            imported.append((client, window))
        }
        return RequestTable(imported: imported)
    }
}
