import GridCore

/// Messages between units of one section, and between the mirror and units, over a
/// primary's replication ROUTER (PROTOCOL.md, "Replication"): a backup's DEALER asks for
/// snapshots and catch-ups and acknowledges what it applied; the primary answers.
///
/// Every message is `SGP02, command, body...`; on the ROUTER the peer's routing id comes
/// first. Backups name themselves (and their follower) in each request, so no fixed
/// routing ids are needed (ZEROMQ.md, trap 3).
public enum PeerMessage: Sendable, Equatable {
    /// Backup -> primary: applied up to `sequence` for each partition, under follower `follow`.
    case acknowledge(unit: String, records: [AckRecord])
    /// Backup -> primary: send the whole partition.
    case snapshotRequest(unit: String, partition: Int, epoch: UInt64, follow: UInt64)
    /// Backup or mirror -> primary: send the changes from `from` on, after a last change held
    /// labelled `dataEpoch` (a snapshot when that is not in the primary's history). The mirror's `follow` is 0.
    case catchUpRequest(unit: String, partition: Int, epoch: UInt64, from: UInt64, dataEpoch: UInt64, follow: UInt64)
    /// Primary -> backup or mirror: part of a snapshot.
    case snapshotChunk(SnapshotChunk)
    /// Primary -> backup or mirror: changes in order (a catch-up, or a resend of what a PUB
    /// dropped), each with its own epoch label, and the primary's commit index.
    case changes(partition: Int, epoch: UInt64, committed: UInt64, changes: [Change])
    /// Primary -> backup or mirror: this unit does not lead the partition at that epoch (or it is loading).
    case refused(partition: Int, epoch: UInt64)
    /// Mirror -> unit: the database holds each partition up to `sequence`, written under
    /// `epoch` (its label), and whether a stopping unit sealed it there (DESIGN.md section 6).
    case stored(mirror: String, records: [StoredRecord])
    /// Primary -> backup: its follower `follow` is in sync (waited for).
    case inSync(partition: Int, epoch: UInt64, follow: UInt64)
    /// Unit -> mirror, on a polite stop: these partitions it led end at these sequences;
    /// once the database holds them, mark them sealed (a clean stop: the next load needs no
    /// version jump). The records' follow is 0.
    case seal(unit: String, records: [AckRecord])

    public struct AckRecord: Sendable, Equatable {
        public var partition: Int
        public var epoch: UInt64
        public var sequence: UInt64
        public var follow: UInt64

        public init(partition: Int, epoch: UInt64, sequence: UInt64, follow: UInt64 = 0) {
            self.partition = partition
            self.epoch = epoch
            self.sequence = sequence
            self.follow = follow
        }
    }

    public struct StoredRecord: Sendable, Equatable {
        public var partition: Int
        public var epoch: UInt64
        public var sequence: UInt64
        public var sealed: Bool

        public init(partition: Int, epoch: UInt64, sequence: UInt64, sealed: Bool = false) {
            self.partition = partition
            self.epoch = epoch
            self.sequence = sequence
            self.sealed = sealed
        }
    }

    /// One part of a snapshot taken at `sequence` (its last change labelled `lastEpoch`),
    /// with the primary's commit index; the last part carries the partition's request table.
    public struct SnapshotChunk: Sendable, Equatable {
        public var partition: Int
        public var epoch: UInt64
        public var sequence: UInt64
        public var lastEpoch: UInt64
        public var committed: UInt64
        public var first: Bool
        public var last: Bool
        public var entries: [([UInt8], Entry)]
        public var requests: RequestTable?

        public init(partition: Int, epoch: UInt64, sequence: UInt64, lastEpoch: UInt64, committed: UInt64, first: Bool, last: Bool,
                    entries: [([UInt8], Entry)], requests: RequestTable? = nil) {
            self.partition = partition
            self.epoch = epoch
            self.sequence = sequence
            self.lastEpoch = lastEpoch
            self.committed = committed
            self.first = first
            self.last = last
            self.entries = entries
            self.requests = requests
        }

        public static func == (lhs: SnapshotChunk, rhs: SnapshotChunk) -> Bool {
            lhs.partition == rhs.partition && lhs.epoch == rhs.epoch && lhs.sequence == rhs.sequence && lhs.lastEpoch == rhs.lastEpoch
                && lhs.committed == rhs.committed && lhs.first == rhs.first && lhs.last == rhs.last && lhs.requests == rhs.requests
                && lhs.entries.map(\.0) == rhs.entries.map(\.0) && lhs.entries.map(\.1) == rhs.entries.map(\.1)
        }
    }

    public static let header: [UInt8] = Array("SGP02".utf8)

    enum Command: UInt8 {
        case acknowledge = 1, snapshotRequest = 2, catchUpRequest = 3, snapshotChunk = 4, changes = 5, refused = 6, stored = 7, inSync = 8, seal = 9
    }

    public static func == (lhs: PeerMessage, rhs: PeerMessage) -> Bool { lhs.frames == rhs.frames }

    /// Bit 7 of a change's kind byte: a request record follows the change.
    static let requestFlag: UInt8 = 0x80

    // MARK: - Encoding

    public var frames: [[UInt8]] {
        var body = ByteWriter()
        let command: Command
        var extra: [[UInt8]] = []
        var trailer: [[UInt8]] = []
        switch self {
        case .acknowledge(let unit, let records), .seal(let unit, let records):
            if case .seal = self { command = .seal } else { command = .acknowledge }
            extra = [Array(unit.utf8)]
            for record in records {
                body.uint32(UInt32(record.partition))
                body.uint64(record.epoch)
                body.uint64(record.sequence)
                body.uint64(record.follow)
            }
        case .stored(let mirror, let records):
            command = .stored
            extra = [Array(mirror.utf8)]
            for record in records {
                body.uint32(UInt32(record.partition))
                body.uint64(record.epoch)
                body.uint64(record.sequence)
                body.uint8(record.sealed ? 1 : 0)
            }
        case .snapshotRequest(let unit, let partition, let epoch, let follow):
            command = .snapshotRequest
            extra = [Array(unit.utf8)]
            body.uint32(UInt32(partition))
            body.uint64(epoch)
            body.uint64(follow)
        case .catchUpRequest(let unit, let partition, let epoch, let from, let dataEpoch, let follow):
            command = .catchUpRequest
            extra = [Array(unit.utf8)]
            body.uint32(UInt32(partition))
            body.uint64(epoch)
            body.uint64(from)
            body.uint64(dataEpoch)
            body.uint64(follow)
        case .snapshotChunk(let chunk):
            command = .snapshotChunk
            var head = ByteWriter(capacity: 37)
            head.uint32(UInt32(chunk.partition))
            head.uint64(chunk.epoch)
            head.uint64(chunk.sequence)
            head.uint64(chunk.lastEpoch)
            head.uint64(chunk.committed)
            head.uint8((chunk.first ? 1 : 0) | (chunk.last ? 2 : 0))
            extra = [head.bytes]
            for (key, entry) in chunk.entries {
                body.lengthPrefixed(key)
                body.uint64(entry.version)
                body.lengthPrefixed(entry.value)
            }
            if let requests = chunk.requests { trailer = [RequestWire.encode(requests)] }
        case .changes(let partition, let epoch, let committed, let changes):
            command = .changes
            var head = ByteWriter(capacity: 20)
            head.uint32(UInt32(partition))
            head.uint64(epoch)
            head.uint64(committed)
            extra = [head.bytes]
            for change in changes {
                body.uint64(change.sequence)
                body.uint64(change.epoch)
                body.uint8(change.kind.rawValue | (change.request == nil ? 0 : Self.requestFlag))
                body.uint64(change.version)
                body.lengthPrefixed(change.key)
                body.lengthPrefixed(change.value)
                if let request = change.request { RequestWire.write(request, to: &body) }
            }
        case .refused(let partition, let epoch):
            command = .refused
            body.uint32(UInt32(partition))
            body.uint64(epoch)
        case .inSync(let partition, let epoch, let follow):
            command = .inSync
            body.uint32(UInt32(partition))
            body.uint64(epoch)
            body.uint64(follow)
        }
        return [Self.header, [command.rawValue]] + extra + [body.bytes] + trailer
    }

    // MARK: - Decoding

    /// Decodes the frames after any routing id; nil for a malformed message (dropped and counted).
    public static func decode(_ frames: ArraySlice<[UInt8]>) -> PeerMessage? {
        let frames = Array(frames)
        guard frames.count >= 3, frames[0] == header, frames[1].count == 1, let command = Command(rawValue: frames[1][0]) else { return nil }
        switch command {
        case .acknowledge, .seal:
            guard frames.count == 4, let unit = String(validatingUTF8Bytes: frames[2]), frames[3].count % 28 == 0 else { return nil }
            var reader = ByteReader(frames[3])
            var records: [AckRecord] = []
            while !reader.isAtEnd {
                guard let partition = reader.uint32(), let epoch = reader.uint64(), let sequence = reader.uint64(), let follow = reader.uint64() else { return nil }
                records.append(AckRecord(partition: Int(partition), epoch: epoch, sequence: sequence, follow: follow))
            }
            return command == .seal ? .seal(unit: unit, records: records) : .acknowledge(unit: unit, records: records)
        case .stored:
            guard frames.count == 4, let mirror = String(validatingUTF8Bytes: frames[2]), frames[3].count % 21 == 0 else { return nil }
            var reader = ByteReader(frames[3])
            var records: [StoredRecord] = []
            while !reader.isAtEnd {
                guard let partition = reader.uint32(), let epoch = reader.uint64(), let sequence = reader.uint64(), let flags = reader.uint8() else { return nil }
                records.append(StoredRecord(partition: Int(partition), epoch: epoch, sequence: sequence, sealed: flags & 1 != 0))
            }
            return .stored(mirror: mirror, records: records)
        case .snapshotRequest:
            guard frames.count == 4, let unit = String(validatingUTF8Bytes: frames[2]) else { return nil }
            var reader = ByteReader(frames[3])
            guard let partition = reader.uint32(), let epoch = reader.uint64(), let follow = reader.uint64(), reader.isAtEnd else { return nil }
            return .snapshotRequest(unit: unit, partition: Int(partition), epoch: epoch, follow: follow)
        case .catchUpRequest:
            guard frames.count == 4, let unit = String(validatingUTF8Bytes: frames[2]) else { return nil }
            var reader = ByteReader(frames[3])
            guard let partition = reader.uint32(), let epoch = reader.uint64(), let from = reader.uint64(), let dataEpoch = reader.uint64(),
                  let follow = reader.uint64(), reader.isAtEnd else { return nil }
            return .catchUpRequest(unit: unit, partition: Int(partition), epoch: epoch, from: from, dataEpoch: dataEpoch, follow: follow)
        case .snapshotChunk:
            guard frames.count == 4 || frames.count == 5 else { return nil }
            var head = ByteReader(frames[2])
            guard let partition = head.uint32(), let epoch = head.uint64(), let sequence = head.uint64(), let lastEpoch = head.uint64(),
                  let committed = head.uint64(), let flags = head.uint8(), head.isAtEnd else { return nil }
            var reader = ByteReader(frames[3])
            var entries: [([UInt8], Entry)] = []
            while !reader.isAtEnd {
                guard let key = reader.lengthPrefixed(), let version = reader.uint64(), let value = reader.lengthPrefixed() else { return nil }
                entries.append((key, Entry(value: value, version: version)))
            }
            var requests: RequestTable?
            if frames.count == 5 {
                guard let table = RequestWire.decodeTable(frames[4]) else { return nil }
                requests = table
            }
            return .snapshotChunk(SnapshotChunk(partition: Int(partition), epoch: epoch, sequence: sequence, lastEpoch: lastEpoch, committed: committed,
                                                first: flags & 1 != 0, last: flags & 2 != 0, entries: entries, requests: requests))
        case .changes:
            guard frames.count == 4 else { return nil }
            var head = ByteReader(frames[2])
            guard let partition = head.uint32(), let epoch = head.uint64(), let committed = head.uint64(), head.isAtEnd else { return nil }
            var reader = ByteReader(frames[3])
            var changes: [Change] = []
            while !reader.isAtEnd {
                guard let sequence = reader.uint64(), let label = reader.uint64(), let kindByte = reader.uint8(),
                      let kind = Change.Kind(rawValue: kindByte & ~Self.requestFlag),
                      let version = reader.uint64(), let key = reader.lengthPrefixed(), let value = reader.lengthPrefixed() else { return nil }
                var request: RequestRecord?
                if kindByte & Self.requestFlag != 0 {
                    guard let record = RequestWire.readRecord(&reader) else { return nil }
                    request = record
                }
                changes.append(Change(partition: Int(partition), epoch: label, sequence: sequence, key: key, version: version, kind: kind, value: value,
                                      request: request))
            }
            return .changes(partition: Int(partition), epoch: epoch, committed: committed, changes: changes)
        case .refused:
            guard frames.count == 3 else { return nil }
            var reader = ByteReader(frames[2])
            guard let partition = reader.uint32(), let epoch = reader.uint64(), reader.isAtEnd else { return nil }
            return .refused(partition: Int(partition), epoch: epoch)
        case .inSync:
            guard frames.count == 3 else { return nil }
            var reader = ByteReader(frames[2])
            guard let partition = reader.uint32(), let epoch = reader.uint64(), let follow = reader.uint64(), reader.isAtEnd else { return nil }
            return .inSync(partition: Int(partition), epoch: epoch, follow: follow)
        }
    }
}
