/// Maps a key to the partition of its section that owns it.
///
/// Two strategies, as DESIGN.md section 4 gives them:
/// - `hash`: FNV-1a 64 over the key's UTF-8 bytes, modulo the partition count.
/// - `range`: the key is a decimal integer and partition `i` owns the
///   half-open range `ranges[i]`; a key outside every range is an error.
public enum Partitioner: Sendable, Equatable {
    case hash(partitions: Int)
    case range([Range<Int64>])

    /// The default partition count of a hash-partitioned section.
    public static let defaultPartitionCount = 271

    /// How many partitions the section has.
    public var partitionCount: Int {
        switch self {
        case .hash(let partitions): return partitions
        case .range(let ranges): return ranges.count
        }
    }

    /// Why a key has no partition.
    public enum Failure: Error, Equatable, Sendable {
        /// A range-partitioned section was given a key that is not a decimal integer.
        case keyNotInteger
        /// A range-partitioned section was given an integer outside every declared range.
        case keyOutOfRange(Int64)
    }

    /// The partition that owns `key` (its UTF-8 bytes).
    @inlinable
    public func partition<Bytes: Collection>(of key: Bytes) -> Result<Int, Failure> where Bytes.Element == UInt8 {
        switch self {
        case .hash(let partitions):
            return .success(Int(FNV1a.hash(key) % UInt64(partitions)))
        case .range(let ranges):
            guard let value = Self.parseInteger(key) else { return .failure(.keyNotInteger) }
            // Ranges are sorted and disjoint (the topology validates this): binary search.
            var low = 0
            var high = ranges.count
            while low < high {
                let mid = (low + high) / 2
                if value < ranges[mid].lowerBound {
                    high = mid
                } else if value >= ranges[mid].upperBound {
                    low = mid + 1
                } else {
                    return .success(mid)
                }
            }
            return .failure(.keyOutOfRange(value))
        }
    }

    /// Parses an optionally signed decimal integer without allocating; nil when not one.
    @inlinable
    static func parseInteger<Bytes: Collection>(_ bytes: Bytes) -> Int64? where Bytes.Element == UInt8 {
        var iterator = bytes.makeIterator()
        guard var byte = iterator.next() else { return nil }
        var negative = false
        if byte == UInt8(ascii: "-") {
            negative = true
            guard let next = iterator.next() else { return nil }
            byte = next
        }
        var value: Int64 = 0
        while true {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let digit = Int64(byte - UInt8(ascii: "0"))
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = negative ? times10.subtractingReportingOverflow(digit) : times10.addingReportingOverflow(digit)
            if o1 || o2 { return nil }
            value = sum
            guard let next = iterator.next() else { return value }
            byte = next
        }
    }
}
