import GridCore

/// What a unit publishes on its PUB socket (PROTOCOL.md, "Replication"):
/// every change of a partition it leads, its commit indexes, and a light invalidation event.
///
/// Change: `topic, header, key, value [, request record]` where
/// - topic is `section.partition` in ASCII (`customer.17`), so SUB prefix filters work;
/// - header is 26 bytes: layout version (1, = 2), epoch (u64), sequence (u64),
///   kind (1: put, 2: delete), entry version (u64), all big-endian;
/// - value is empty for a delete;
/// - the request record (`RequestWire`), when the change answered a request with an id.
///
/// Commit: `section.commit, records` with records (partition u32, epoch u64, committed u64)
/// × n: every change up to `committed` is on every backup its primary waits for. `commit`
/// is no partition number, so backups (subscribed to `section.N`) never receive it.
///
/// Invalidation: `invalidate:section, key, version (u64)`. The `:` never occurs
/// in a section name, so the topics never collide.
public enum ReplicationWire {
    public static let layoutVersion: UInt8 = 2
    public static let invalidationPrefix: [UInt8] = Array("invalidate:".utf8)

    /// The topic of a partition's changes.
    public static func topic(section: String, partition: Int) -> [UInt8] {
        Array("\(section).\(partition)".utf8)
    }

    public static func encode(section: String, _ change: Change) -> [[UInt8]] {
        encode(topic: topic(section: section, partition: change.partition), change)
    }

    /// Encodes with a precomputed topic (the hot path keeps one per partition).
    public static func encode(topic: [UInt8], _ change: Change) -> [[UInt8]] {
        var header = ByteWriter(capacity: 26)
        header.uint8(layoutVersion)
        header.uint64(change.epoch)
        header.uint64(change.sequence)
        header.uint8(change.kind.rawValue)
        header.uint64(change.version)
        guard let request = change.request else { return [topic, header.bytes, change.key, change.value] }
        return [topic, header.bytes, change.key, change.value, RequestWire.encode(request)]
    }

    /// A decoded change with the section it belongs to.
    public struct Published: Sendable, Equatable {
        public var section: String
        public var change: Change
    }

    /// Decodes a change message; nil for anything else (an invalidation, garbage).
    public static func decode(_ frames: [[UInt8]]) -> Published? {
        guard frames.count == 4 || frames.count == 5, frames[1].count == 26 else { return nil }
        guard let dot = frames[0].lastIndex(of: UInt8(ascii: ".")),
              let section = String(validatingUTF8Bytes: Array(frames[0][..<dot])), !section.isEmpty,
              let partition = Int(String(decoding: frames[0][(dot + 1)...], as: UTF8.self)), partition >= 0 else { return nil }
        var reader = ByteReader(frames[1])
        guard reader.uint8() == layoutVersion, let epoch = reader.uint64(), let sequence = reader.uint64(),
              let kindByte = reader.uint8(), let kind = Change.Kind(rawValue: kindByte), let version = reader.uint64() else { return nil }
        var request: RequestRecord?
        if frames.count == 5 {
            guard let record = RequestWire.decodeRecord(frames[4]) else { return nil }
            request = record
        }
        return Published(section: section, change: Change(
            partition: partition, epoch: epoch, sequence: sequence, key: frames[2], version: version, kind: kind, value: frames[3], request: request))
    }

    // MARK: - Commit indexes

    /// One partition's commit index, as a primary announces it.
    public struct Commit: Sendable, Equatable {
        public var partition: Int
        public var epoch: UInt64
        public var committed: UInt64

        public init(partition: Int, epoch: UInt64, committed: UInt64) {
            self.partition = partition
            self.epoch = epoch
            self.committed = committed
        }
    }

    public static func commitTopic(section: String) -> [UInt8] { Array("\(section).commit".utf8) }

    public static func encodeCommits(topic: [UInt8], _ commits: [Commit]) -> [[UInt8]] {
        var body = ByteWriter(capacity: commits.count * 20)
        for commit in commits {
            body.uint32(UInt32(commit.partition))
            body.uint64(commit.epoch)
            body.uint64(commit.committed)
        }
        return [topic, body.bytes]
    }

    /// Decodes a commit message; nil for anything else.
    public static func decodeCommits(_ frames: [[UInt8]]) -> (section: String, commits: [Commit])? {
        guard frames.count == 2, frames[1].count % 20 == 0, frames[0].count > 7, frames[0].suffix(7).elementsEqual(".commit".utf8),
              let section = String(validatingUTF8Bytes: Array(frames[0].dropLast(7))), !section.isEmpty else { return nil }
        var reader = ByteReader(frames[1])
        var commits: [Commit] = []
        while !reader.isAtEnd {
            guard let partition = reader.uint32(), let epoch = reader.uint64(), let committed = reader.uint64() else { return nil }
            commits.append(Commit(partition: Int(partition), epoch: epoch, committed: committed))
        }
        return (section, commits)
    }

    // MARK: - Invalidation

    public static func invalidationTopic(section: String) -> [UInt8] {
        invalidationPrefix + Array(section.utf8)
    }

    public static func encodeInvalidation(topic: [UInt8], key: [UInt8], version: UInt64) -> [[UInt8]] {
        [topic, key, BigEndian.bytes(version)]
    }

    public struct Invalidation: Sendable, Equatable {
        public var section: String
        public var key: [UInt8]
        public var version: UInt64
    }

    public static func decodeInvalidation(_ frames: [[UInt8]]) -> Invalidation? {
        guard frames.count == 3, frames[0].starts(with: invalidationPrefix), frames[2].count == 8,
              let section = String(validatingUTF8Bytes: Array(frames[0].dropFirst(invalidationPrefix.count))) else { return nil }
        return Invalidation(section: section, key: frames[1], version: BigEndian.uint64(frames[2]))
    }
}
