/// The recent changes of one partition a primary leads: what it resends to a
/// backup that missed some (a PUB drop, a reconnect) and replays to a mirror.
///
/// Bounded: it keeps the last `capacity` changes; a follower further behind
/// gets a snapshot instead. Each change keeps the time it was applied, so the
/// age of the oldest unacknowledged change can be measured.
public struct ReplicationLog: Sendable {
    public let capacity: Int
    private var ring: [Change?]
    private var times: [UInt64]
    private var head = 0          // index of the oldest change
    public private(set) var count = 0

    public init(capacity: Int = 256) {
        precondition(capacity > 0)
        self.capacity = capacity
        ring = Array(repeating: nil, count: capacity)
        times = Array(repeating: 0, count: capacity)
    }

    /// The sequence of the newest change kept (0 when empty).
    public var newest: UInt64 { count == 0 ? 0 : ring[(head + count - 1) % capacity]!.sequence }

    /// The sequence of the oldest change kept (0 when empty).
    public var oldest: UInt64 { count == 0 ? 0 : ring[head]!.sequence }

    /// Appends the next change (sequences must follow each other).
    public mutating func append(_ change: Change, at now: UInt64) {
        precondition(count == 0 || change.sequence == newest + 1, "replication log sequences are gap-free")
        if count == capacity {
            ring[head] = change
            times[head] = now
            head = (head + 1) % capacity
        } else {
            let index = (head + count) % capacity
            ring[index] = change
            times[index] = now
            count += 1
        }
    }

    /// Forgets everything (the partition's history restarts, as after a snapshot install).
    public mutating func reset() {
        ring = Array(repeating: nil, count: capacity)
        head = 0
        count = 0
    }

    /// The changes with sequences `from...newest`, or nil when the log no longer reaches back to `from`.
    public func changes(from: UInt64) -> [Change]? {
        if from > newest { return [] }
        guard count > 0, from >= oldest else { return nil }
        let skip = Int(from - oldest)
        return (skip..<count).map { ring[(head + $0) % capacity]! }
    }

    /// When the change with `sequence` was applied, if it is still kept.
    public func time(of sequence: UInt64) -> UInt64? {
        guard count > 0, sequence >= oldest, sequence <= newest else { return nil }
        return times[(head + Int(sequence - oldest)) % capacity]
    }
}
