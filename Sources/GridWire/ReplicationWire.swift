import GridCore

/// What a unit publishes on its PUB socket (PROTOCOL.md, "Replication"):
/// every change of a partition it leads, and a light invalidation event.
///
/// Change: `topic, header, key, value` where
/// - topic is `section.partition` in ASCII (`customer.17`), so SUB prefix filters work;
/// - header is 26 bytes: layout version (1, = 1), epoch (u64), sequence (u64),
///   kind (1: put, 2: delete), entry version (u64), all big-endian;
/// - value is empty for a delete.
///
/// Invalidation: `invalidate:section, key, version (u64)`. The `:` never occurs
/// in a section name, so the topics never collide.
public enum ReplicationWire {
    public static let layoutVersion: UInt8 = 1
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
        return [topic, header.bytes, change.key, change.value]
    }

    /// A decoded change with the section it belongs to.
    public struct Published: Sendable, Equatable {
        public var section: String
        public var change: Change
    }

    /// Decodes a change message; nil for anything else (an invalidation, garbage).
    public static func decode(_ frames: [[UInt8]]) -> Published? {
        guard frames.count == 4, frames[1].count == 26 else { return nil }
        guard let dot = frames[0].lastIndex(of: UInt8(ascii: ".")),
              let section = String(validatingUTF8Bytes: Array(frames[0][..<dot])), !section.isEmpty,
              let partition = Int(String(decoding: frames[0][(dot + 1)...], as: UTF8.self)), partition >= 0 else { return nil }
        var reader = ByteReader(frames[1])
        guard reader.uint8() == layoutVersion, let epoch = reader.uint64(), let sequence = reader.uint64(),
              let kindByte = reader.uint8(), let kind = Change.Kind(rawValue: kindByte), let version = reader.uint64() else { return nil }
        return Published(section: section, change: Change(
            partition: partition, epoch: epoch, sequence: sequence, key: frames[2], version: version, kind: kind, value: frames[3]))
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
