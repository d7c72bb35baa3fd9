import GridCore
import Yams

/// Reads the `ranges` of a range-partitioned section.
///
/// Each range is a half-open `[start, end)` of integer keys and becomes one
/// partition, in file order. The partitioner finds a key's partition by binary
/// search, which is only correct when ranges are sorted by start and do not
/// overlap, so both are checked here rather than trusted. Gaps are allowed: a
/// key in a gap is refused at request time with a clear error.
extension TopologyDecoder {
    /// The section's ranges, or nil after reporting every bad one.
    mutating func decodeRanges(_ node: Node, context: String) -> [Range<Int64>]? {
        let label = "\(context): ranges"
        guard case let .sequence(sequence) = node else {
            problems.report(
                "\(label) must be a list of [start, end] pairs, got \(ScalarReading.describe(node))",
                at: node.mark)
            return nil
        }
        guard !sequence.isEmpty else {
            problems.report("\(label) must list at least one [start, end] pair", at: node.mark)
            return nil
        }
        guard SectionConfig.partitionsRange.contains(sequence.count) else {
            problems.report(
                "\(label) declares \(sequence.count) ranges; at most \(SectionConfig.partitionsRange.upperBound) "
                    + "are allowed (one partition each)",
                at: node.mark)
            return nil
        }

        var ranges: [Range<Int64>] = []
        var valid = true
        var previous: Range<Int64>?
        for item in sequence {
            guard let range = decodeRange(item, label: label) else {
                valid = false
                continue
            }
            if let previous {
                if range.lowerBound < previous.lowerBound {
                    problems.report(
                        "\(label): range \(Self.describe(range)) starts before the previous range "
                            + "\(Self.describe(previous)); list ranges sorted by start",
                        at: item.mark)
                    valid = false
                } else if range.lowerBound < previous.upperBound {
                    problems.report(
                        "\(label): range \(Self.describe(range)) overlaps the previous range "
                            + "\(Self.describe(previous)); a key must belong to one partition only",
                        at: item.mark)
                    valid = false
                }
            }
            previous = range
            ranges.append(range)
        }
        return valid ? ranges : nil
    }

    /// One `[start, end]` pair with `start < end`.
    mutating func decodeRange(_ item: Node, label: String) -> Range<Int64>? {
        guard case let .sequence(pair) = item, pair.count == 2 else {
            problems.report(
                "\(label): each range must be a list of two integers [start, end], got "
                    + ScalarReading.describe(item)
                    + (item.sequence.map { " of \($0.count) items" } ?? ""),
                at: item.mark)
            return nil
        }
        var bounds: [Int64] = []
        for (bound, name) in zip(pair, ["start", "end"]) {
            guard let value = ScalarReading.plainInteger(bound) else {
                problems.report(
                    "\(label): range \(name) must be an integer, got \(ScalarReading.describe(bound))",
                    at: bound.mark)
                continue
            }
            bounds.append(value)
        }
        guard bounds.count == 2 else { return nil }
        guard bounds[0] < bounds[1] else {
            problems.report(
                "\(label): range [\(bounds[0]), \(bounds[1])] is empty: start must be less than end "
                    + "(ranges are half-open, [start, end))",
                at: item.mark)
            return nil
        }
        return bounds[0]..<bounds[1]
    }

    /// `[0, 250000)`, the half-open notation messages use.
    static func describe(_ range: Range<Int64>) -> String {
        "[\(range.lowerBound), \(range.upperBound))"
    }
}
