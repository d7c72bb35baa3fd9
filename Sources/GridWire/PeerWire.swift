import GridCore

/// Messages between units of one section over the primary's replication
/// ROUTER (PROTOCOL.md, "Replication"): a backup's DEALER asks for snapshots
/// and catch-ups and acknowledges what it applied; the primary answers.
///
/// Every message is `SGP01, command, body...`; on the ROUTER the peer's
/// routing id comes first. Backups name themselves in each request, so no
/// fixed routing ids are needed (ZEROMQ.md, trap 3).
public enum PeerMessage: Sendable, Equatable {
    /// Backup -> primary: applied up to `sequence` for each partition (sync mode waits for it).
    case acknowledge(unit: String, records: [AckRecord])
    /// Backup -> primary: send the whole partition.
    case snapshotRequest(unit: String, partition: Int, epoch: UInt64)
    /// Backup -> primary: send the changes from `from` on.
    case catchUpRequest(unit: String, partition: Int, epoch: UInt64, from: UInt64)
    /// Primary -> backup: part of a snapshot taken at `sequence`.
    case snapshotChunk(partition: Int, epoch: UInt64, sequence: UInt64, first: Bool, last: Bool, entries: [([UInt8], Entry)])
    /// Primary -> backup: changes in order (a catch-up, or a resend of what a PUB dropped).
    case changes(partition: Int, epoch: UInt64, changes: [Change])
    /// Primary -> backup: this unit does not lead the partition at that epoch.
    case refused(partition: Int, epoch: UInt64)
    /// Mirror -> primary: the database holds every change up to `sequence` of each
    /// partition. A stopping unit waits for it, so nothing it acknowledged is left
    /// only in memory (DESIGN.md section 6). The epoch field of a record is 0.
    case stored(mirror: String, records: [AckRecord])

    public struct AckRecord: Sendable, Equatable {
        public var partition: Int
        public var epoch: UInt64
        public var sequence: UInt64

        public init(partition: Int, epoch: UInt64, sequence: UInt64) {
            self.partition = partition
            self.epoch = epoch
            self.sequence = sequence
        }
    }

    public static let header: [UInt8] = Array("SGP01".utf8)

    enum Command: UInt8 {
        case acknowledge = 1, snapshotRequest = 2, catchUpRequest = 3, snapshotChunk = 4, changes = 5, refused = 6, stored = 7
    }

    public static func == (lhs: PeerMessage, rhs: PeerMessage) -> Bool { lhs.frames == rhs.frames }

    // MARK: - Encoding

    public var frames: [[UInt8]] {
        var body = ByteWriter()
        let command: Command
        var extra: [[UInt8]] = []
        switch self {
        case .acknowledge(let unit, let records), .stored(let unit, let records):
            if case .stored = self { command = .stored } else { command = .acknowledge }
            extra = [Array(unit.utf8)]
            for record in records {
                body.uint32(UInt32(record.partition))
                body.uint64(record.epoch)
                body.uint64(record.sequence)
            }
        case .snapshotRequest(let unit, let partition, let epoch):
            command = .snapshotRequest
            extra = [Array(unit.utf8)]
            body.uint32(UInt32(partition))
            body.uint64(epoch)
        case .catchUpRequest(let unit, let partition, let epoch, let from):
            command = .catchUpRequest
            extra = [Array(unit.utf8)]
            body.uint32(UInt32(partition))
            body.uint64(epoch)
            body.uint64(from)
        case .snapshotChunk(let partition, let epoch, let sequence, let first, let last, let entries):
            command = .snapshotChunk
            var head = ByteWriter(capacity: 21)
            head.uint32(UInt32(partition))
            head.uint64(epoch)
            head.uint64(sequence)
            head.uint8((first ? 1 : 0) | (last ? 2 : 0))
            extra = [head.bytes]
            for (key, entry) in entries {
                body.lengthPrefixed(key)
                body.uint64(entry.version)
                body.lengthPrefixed(entry.value)
            }
        case .changes(let partition, let epoch, let changes):
            command = .changes
            var head = ByteWriter(capacity: 12)
            head.uint32(UInt32(partition))
            head.uint64(epoch)
            extra = [head.bytes]
            for change in changes {
                body.uint64(change.sequence)
                body.uint8(change.kind.rawValue)
                body.uint64(change.version)
                body.lengthPrefixed(change.key)
                body.lengthPrefixed(change.value)
            }
        case .refused(let partition, let epoch):
            command = .refused
            body.uint32(UInt32(partition))
            body.uint64(epoch)
        }
        return [Self.header, [command.rawValue]] + extra + [body.bytes]
    }

    // MARK: - Decoding

    /// Decodes the frames after any routing id; nil for a malformed message (dropped and counted).
    public static func decode(_ frames: ArraySlice<[UInt8]>) -> PeerMessage? {
        let frames = Array(frames)
        guard frames.count >= 3, frames[0] == header, frames[1].count == 1, let command = Command(rawValue: frames[1][0]) else { return nil }
        switch command {
        case .acknowledge, .stored:
            guard frames.count == 4, let unit = String(validatingUTF8Bytes: frames[2]), frames[3].count % 20 == 0 else { return nil }
            var reader = ByteReader(frames[3])
            var records: [AckRecord] = []
            while !reader.isAtEnd {
                guard let partition = reader.uint32(), let epoch = reader.uint64(), let sequence = reader.uint64() else { return nil }
                records.append(AckRecord(partition: Int(partition), epoch: epoch, sequence: sequence))
            }
            return command == .stored ? .stored(mirror: unit, records: records) : .acknowledge(unit: unit, records: records)
        case .snapshotRequest:
            guard frames.count == 4, let unit = String(validatingUTF8Bytes: frames[2]) else { return nil }
            var reader = ByteReader(frames[3])
            guard let partition = reader.uint32(), let epoch = reader.uint64(), reader.isAtEnd else { return nil }
            return .snapshotRequest(unit: unit, partition: Int(partition), epoch: epoch)
        case .catchUpRequest:
            guard frames.count == 4, let unit = String(validatingUTF8Bytes: frames[2]) else { return nil }
            var reader = ByteReader(frames[3])
            guard let partition = reader.uint32(), let epoch = reader.uint64(), let from = reader.uint64(), reader.isAtEnd else { return nil }
            return .catchUpRequest(unit: unit, partition: Int(partition), epoch: epoch, from: from)
        case .snapshotChunk:
            guard frames.count == 4 else { return nil }
            var head = ByteReader(frames[2])
            guard let partition = head.uint32(), let epoch = head.uint64(), let sequence = head.uint64(), let flags = head.uint8(), head.isAtEnd else { return nil }
            var reader = ByteReader(frames[3])
            var entries: [([UInt8], Entry)] = []
            while !reader.isAtEnd {
                guard let key = reader.lengthPrefixed(), let version = reader.uint64(), let value = reader.lengthPrefixed() else { return nil }
                entries.append((key, Entry(value: value, version: version)))
            }
            return .snapshotChunk(partition: Int(partition), epoch: epoch, sequence: sequence, first: flags & 1 != 0, last: flags & 2 != 0, entries: entries)
        case .changes:
            guard frames.count == 4 else { return nil }
            var head = ByteReader(frames[2])
            guard let partition = head.uint32(), let epoch = head.uint64(), head.isAtEnd else { return nil }
            var reader = ByteReader(frames[3])
            var changes: [Change] = []
            while !reader.isAtEnd {
                guard let sequence = reader.uint64(), let kindByte = reader.uint8(), let kind = Change.Kind(rawValue: kindByte),
                      let version = reader.uint64(), let key = reader.lengthPrefixed(), let value = reader.lengthPrefixed() else { return nil }
                changes.append(Change(partition: Int(partition), epoch: epoch, sequence: sequence, key: key, version: version, kind: kind, value: value))
            }
            return .changes(partition: Int(partition), epoch: epoch, changes: changes)
        case .refused:
            guard frames.count == 3 else { return nil }
            var reader = ByteReader(frames[2])
            guard let partition = reader.uint32(), let epoch = reader.uint64(), reader.isAtEnd else { return nil }
            return .refused(partition: Int(partition), epoch: epoch)
        }
    }
}
