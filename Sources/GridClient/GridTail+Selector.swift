import GridCore
import GridWire

/// The decisions of `spacegrid tail`, without sockets: which SUB prefixes to
/// subscribe to, which messages to show, and which sequences never arrived.
public struct TailSelector: Sendable {
    public let filter: TailFilter
    /// The partitioning of each hash section (the tail cannot know a range section's ranges).
    private var hashPartitions: [String: Int] = [:]
    /// The newest (epoch, sequence) seen per partition.
    private var latest: [PartitionID: (epoch: UInt64, sequence: UInt64)] = [:]

    private struct PartitionID: Hashable {
        var section: String
        var partition: Int
    }

    public init(filter: TailFilter) {
        self.filter = filter
    }

    /// Learns a section's partitioning from `grid status` (`hash` with its partition count).
    public mutating func learn(section: String, partitioning: String, partitions: Int) {
        if partitioning == "hash", partitions > 0 { hashPartitions[section] = partitions }
    }

    public func matches(section: String) -> Bool {
        filter.section.map { $0 == section } ?? true
    }

    /// The partition a section's messages must be about: the filter's, or the key's in a hash section.
    public func wantedPartition(in section: String) -> Int? {
        if let partition = filter.partition { return partition }
        if let key = filter.key { return partition(of: key, in: section) }
        return nil
    }

    public func matches(partition: Int, of section: String) -> Bool {
        wantedPartition(in: section).map { $0 == partition } ?? true
    }

    /// The partition of `key` in a hash section; nil for a range or unknown section.
    public func partition(of key: [UInt8], in section: String) -> Int? {
        guard let count = hashPartitions[section] else { return nil }
        return Int(FNV1a.hash(key) % UInt64(count))
    }

    /// The SUB prefixes for one section's messages, as narrow as the filters allow.
    /// A prefix also matches longer topics (`customer.1` matches `customer.17`), so
    /// every message is checked exactly again.
    public func subscriptionPrefixes(section: String) -> [[UInt8]] {
        guard matches(section: section) else { return [] }
        var prefixes: [[UInt8]] = []
        if let partition = wantedPartition(in: section) {
            prefixes.append(ReplicationWire.topic(section: section, partition: partition))
        } else {
            prefixes.append(Array("\(section).".utf8))
        }
        if filter.invalidations {
            prefixes.append(ReplicationWire.invalidationTopic(section: section))
        }
        return prefixes
    }

    /// What a received change shows: a gap first when sequences of its epoch were
    /// skipped, then the change itself unless the key filter leaves it out.
    public mutating func onChange(section: String, _ change: Change, timeMs: Int64) -> [TailEvent] {
        guard matches(section: section), matches(partition: change.partition, of: section) else { return [] }
        var shown: [TailEvent] = []
        let id = PartitionID(section: section, partition: change.partition)
        if let last = latest[id] {
            if last.epoch == change.epoch, change.sequence > last.sequence + 1 {
                shown.append(.gap(section: section, partition: change.partition, epoch: change.epoch,
                                  first: last.sequence + 1, last: change.sequence - 1, timeMs: timeMs))
            }
            // An older change (a fenced primary's) is shown but does not move the mark.
            if (change.epoch, change.sequence) > (last.epoch, last.sequence) {
                latest[id] = (change.epoch, change.sequence)
            }
        } else {
            latest[id] = (change.epoch, change.sequence)
        }
        if let key = filter.key, key != change.key { return shown }
        shown.append(.change(section: section, change: change, timeMs: timeMs))
        return shown
    }

    public func shows(_ invalidation: ReplicationWire.Invalidation) -> Bool {
        guard filter.invalidations, matches(section: invalidation.section) else { return false }
        if let key = filter.key, key != invalidation.key { return false }
        if let wanted = filter.partition, let partition = partition(of: invalidation.key, in: invalidation.section), partition != wanted {
            return false
        }
        return true
    }

    /// The grid event as shown, or nil when the filters leave it out. Filters apply
    /// where the event carries the field (`section`, `partition`, `partitions`);
    /// `grid.table` keeps only the matching leases and backups.
    public func shown(_ event: GridEvent) -> GridEvent? {
        guard !filter.changesOnly else { return nil }
        if let section = event.section {
            guard matches(section: section) else { return nil }
            if let partition = event.partition, !matches(partition: partition, of: section) { return nil }
            if let wanted = wantedPartition(in: section), let partitions = event.fields["partitions"]?.arrayValue,
               !partitions.contains(where: { $0.intValue == Int64(wanted) }) { return nil }
            return event
        }
        guard event.topic == "grid.table", filter.section != nil || filter.partition != nil || filter.key != nil else { return event }
        var shown = event
        var kept = 0
        for list in ["leases", "backups"] {
            guard let entries = event.fields[list]?.arrayValue else { continue }
            let matching = entries.filter { entry in
                guard case .object(let fields) = entry, let section = fields["section"]?.stringValue, matches(section: section) else {
                    return false
                }
                guard let partition = fields["partition"]?.intValue else { return true }
                return matches(partition: Int(partition), of: section)
            }
            kept += matching.count
            shown.fields[list] = .array(matching)
        }
        return kept > 0 ? shown : nil
    }
}
