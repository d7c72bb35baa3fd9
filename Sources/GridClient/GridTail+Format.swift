import GridCore
import GridWire

#if canImport(Glibc)
import Glibc
#endif

/// How `spacegrid tail` prints events: one readable line, or one JSON object per line.
public enum TailFormat {
    /// Characters of a value shown in a text line.
    public static let previewLength = 60

    /// Fields of grid events printed first, in this order; the rest follow sorted.
    static let leadingFields = ["unit", "section", "partition", "partitions", "epoch", "previous", "sequence", "reason"]

    // MARK: - Text

    /// `HH:MM:SS.mmm  customer.17  e3 s42  put  key=42  v42  {"balance":100}`.
    public static func text(_ event: TailEvent) -> String {
        switch event {
        case .change(let section, let change, let timeMs):
            var line = "\(clock(timeMs))  \(section).\(change.partition)  e\(change.epoch) s\(change.sequence)  "
            switch change.kind {
            case .put:
                line += "put  key=\(printable(change.key))  v\(change.version)  \(preview(change.value))"
            case .delete:
                line += "del  key=\(printable(change.key))  v\(change.version)"
            }
            return line
        case .invalidation(let invalidation, let timeMs):
            return "\(clock(timeMs))  \(invalidation.section)  inval  key=\(printable(invalidation.key))  v\(invalidation.version)"
        case .gap(let section, let partition, let epoch, let first, let last, let timeMs):
            let range = first == last ? "s\(first)" : "s\(first)...s\(last)"
            return "\(clock(timeMs))  \(section).\(partition)  e\(epoch) \(range)  gap  \(last - first + 1) change(s) not received (the tail fell behind or joined late)"
        case .brokerRestarted(let pid, let previous, let timeMs):
            return "\(clock(timeMs))  tail  broker.restarted  pid=\(pid) previous=\(previous)  (grid events published before the tail reconnected are not shown)"
        case .grid(let event):
            let name = event.topic.hasPrefix("grid.") ? String(event.topic.dropFirst(5)) : event.topic
            let time = clock(event.timeMs ?? wallClockMilliseconds())
            if event.topic == "grid.table" {
                let leases = event.fields["leases"]?.arrayValue?.count ?? 0
                let backups = event.fields["backups"]?.arrayValue?.count ?? 0
                return "\(time)  grid  table  \(leases) lease\(leases == 1 ? "" : "s"), \(backups) backup\(backups == 1 ? "" : "s")"
            }
            let others = event.fields.keys.filter { !leadingFields.contains($0) && $0 != "event" && $0 != "time_ms" }.sorted()
            let pairs = (leadingFields + others).compactMap { name in
                event.fields[name].map { "\(name)=\(text($0))" }
            }
            return "\(time)  grid  \(name)  \(pairs.joined(separator: " "))"
        }
    }

    /// A field value in a text line: strings bare (quoted when they hold spaces), long lists cut short.
    static func text(_ value: JSONValue) -> String {
        switch value {
        case .string(let string):
            let clean = printable(Array(string.utf8))
            return clean.isEmpty || clean.contains(" ") ? "\"\(clean)\"" : clean
        case .array(let values):
            let shown = values.prefix(8).map(text).joined(separator: ",")
            return values.count > 8 ? "\(shown),...(\(values.count))" : shown
        case .object:
            return value.jsonText
        default:
            return value.jsonText
        }
    }

    /// `HH:MM:SS.mmm` in local time.
    public static func clock(_ milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds / 1_000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = Int(milliseconds % 1_000)
        let fraction = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)"
    }

    /// Bytes as text with control characters shown as `.` (invalid UTF-8 as U+FFFD).
    public static func printable(_ bytes: [UInt8]) -> String {
        var result = ""
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            let isControl = scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value)
            result.unicodeScalars.append(isControl ? "." : scalar)
        }
        return result
    }

    /// The first `previewLength` printable characters of a value, `...` when longer.
    public static func preview(_ value: [UInt8]) -> String {
        if value.isEmpty { return "(empty)" }
        let text = printable(value)
        guard text.count > previewLength else { return text }
        return String(text.prefix(previewLength)) + "..."
    }

    // MARK: - JSON

    /// One JSON object, without a newline.
    public static func json(_ event: TailEvent) -> String {
        var out: [UInt8] = []
        switch event {
        case .change(let section, let change, let timeMs):
            JSONValue.writeObject([
                ("type", .string("change")), ("time_ms", .int(timeMs)), ("section", .string(section)),
                ("partition", .int(Int64(change.partition))), ("epoch", .int(Int64(clamping: change.epoch))),
                ("sequence", .int(Int64(clamping: change.sequence))), ("op", .string(change.kind == .put ? "put" : "del")),
                ("key", .string(String(decoding: change.key, as: UTF8.self))), ("version", .int(Int64(clamping: change.version))),
                ("value", change.kind == .put ? .string(String(decoding: change.value, as: UTF8.self)) : .null),
            ], to: &out)
        case .invalidation(let invalidation, let timeMs):
            JSONValue.writeObject([
                ("type", .string("invalidation")), ("time_ms", .int(timeMs)), ("section", .string(invalidation.section)),
                ("key", .string(String(decoding: invalidation.key, as: UTF8.self))), ("version", .int(Int64(clamping: invalidation.version))),
            ], to: &out)
        case .gap(let section, let partition, let epoch, let first, let last, let timeMs):
            JSONValue.writeObject([
                ("type", .string("gap")), ("time_ms", .int(timeMs)), ("section", .string(section)),
                ("partition", .int(Int64(partition))), ("epoch", .int(Int64(clamping: epoch))),
                ("first", .int(Int64(clamping: first))), ("last", .int(Int64(clamping: last))),
            ], to: &out)
        case .brokerRestarted(let pid, let previous, let timeMs):
            JSONValue.writeObject([
                ("type", .string("tail")), ("event", .string("broker.restarted")), ("time_ms", .int(timeMs)),
                ("pid", .int(Int64(pid))), ("previous", .int(Int64(previous))),
            ], to: &out)
        case .grid(let event):
            var fields: [(String, JSONValue)] = [("type", .string("grid")), ("event", .string(event.topic))]
            for (name, value) in event.fields.sorted(by: { $0.key < $1.key }) where name != "event" && name != "type" {
                fields.append((name, value))
            }
            JSONValue.writeObject(fields, to: &out)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Text lines for a stream of events, with each burst of per-partition events of one
/// failover (`grid.partition.promoted`, `orphaned` or `lost`, same section, unit and
/// previous primary) folded into one line: a unit's death touches hundreds of partitions.
public struct TailTextLines: Sendable {
    private var burst: [GridEvent] = []

    /// The per-partition events that fold.
    static let folded: Set<String> = ["grid.partition.promoted", "grid.partition.orphaned", "grid.partition.lost"]

    public init() {}

    /// Whether events are held back, waiting for the rest of their burst.
    public var isHolding: Bool { !burst.isEmpty }

    /// The lines `event` completes (none while a burst may still grow).
    public mutating func add(_ event: TailEvent) -> [String] {
        if case .grid(let grid) = event, Self.folded.contains(grid.topic) {
            if let first = burst.first, !Self.sameBurst(first, grid) {
                let lines = flush()
                burst = [grid]
                return lines
            }
            burst.append(grid)
            return []
        }
        return flush() + [TailFormat.text(event)]
    }

    /// The lines still held back; call when the stream pauses.
    public mutating func flush() -> [String] {
        guard let first = burst.first else { return [] }
        defer { burst.removeAll() }
        if burst.count == 1 { return [TailFormat.text(.grid(first))] }
        var folded = first
        let partitions = burst.compactMap { $0.fields["partition"] }
        let epochs = burst.compactMap { $0.fields["epoch"]?.intValue }
        folded.fields["partition"] = nil
        folded.fields["sequence"] = nil
        folded.fields["partitions"] = .array(partitions)
        if let low = epochs.min(), let high = epochs.max() {
            folded.fields["epoch"] = low == high ? .int(low) : .string("\(low)...\(high)")
        }
        return [TailFormat.text(.grid(folded))]
    }

    static func sameBurst(_ a: GridEvent, _ b: GridEvent) -> Bool {
        a.topic == b.topic && a.section == b.section && a.unit == b.unit && a.fields["previous"] == b.fields["previous"]
    }
}
