/// A value the trading sections write with a `JSONWriter`. It writes its
/// fields in the order of their names' UTF-8 bytes, so the output is the
/// sorted-keys output of Foundation's JSONEncoder.
protocol JSONWritable {
    func write(to json: inout JSONWriter)
    /// About how many bytes the value writes, so the buffer is allocated once (128 unless told).
    var estimatedJSONSize: Int { get }
}

extension JSONWritable {
    var estimatedJSONSize: Int { 128 }
}

/// Writes JSON straight into a byte buffer: compact, `/` not escaped, byte for
/// byte what Foundation's JSONEncoder writes with `[.sortedKeys,
/// .withoutEscapingSlashes]` on Linux (swift-foundation's JSONWriter):
/// 1. Strings escape `"` and `\`, write `\b \f \n \r \t` for those controls
///    and `\u00XX` (lowercase hex) for the other bytes below 0x20; all else,
///    DEL and non-ASCII included, is written as its UTF-8 bytes.
/// 2. Object keys come in the order of their UTF-8 bytes (a `Dictionary`
///    sorts its keys; a `JSONWritable` writes its fields in that order).
/// 3. Integers in decimal, no `+`, no leading zero.
///
/// Commas are the writer's business: `key` and every value add one when
/// something came before them in the same object or array.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    /// Whether the next key or array element needs a comma before it.
    private var needsComma = false

    init(capacity: Int = 128) {
        bytes.reserveCapacity(capacity)
    }

    /// The value's JSON.
    static func encode(_ value: some JSONWritable) -> [UInt8] {
        var json = JSONWriter(capacity: value.estimatedJSONSize)
        value.write(to: &json)
        return json.bytes
    }

    // MARK: - Containers

    mutating func beginObject() {
        separate()
        bytes.append(JSONByte.openBrace)
        needsComma = false
    }

    mutating func endObject() {
        bytes.append(JSONByte.closeBrace)
        needsComma = true
    }

    mutating func beginArray() {
        separate()
        bytes.append(JSONByte.openBracket)
        needsComma = false
    }

    mutating func endArray() {
        bytes.append(JSONByte.closeBracket)
        needsComma = true
    }

    /// A field name known to need no escaping (the fields of the trading values): written as it is.
    mutating func key(_ name: StaticString) {
        separate()
        bytes.append(JSONByte.quote)
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(JSONByte.quote)
        bytes.append(JSONByte.colon)
        needsComma = false
    }

    /// Any key (of a map), escaped.
    mutating func key(_ name: String) {
        separate()
        appendString(name)
        bytes.append(JSONByte.colon)
        needsComma = false
    }

    // MARK: - Scalars

    mutating func int(_ value: Int64) {
        separate()
        if value < 0 { bytes.append(JSONByte.minus) }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = digits.count
            repeat {
                start -= 1
                digits[start] = JSONByte.zero + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
        }
        needsComma = true
    }

    mutating func string(_ value: String) {
        separate()
        appendString(value)
        needsComma = true
    }

    // MARK: - Fields

    mutating func field<Value: JSONWritable>(_ name: StaticString, _ value: Value) {
        key(name)
        value.write(to: &self)
    }

    /// An optional field: left out when nil, as Foundation's synthesized encoding does.
    mutating func field<Value: JSONWritable>(_ name: StaticString, _ value: Value?) {
        if let value { field(name, value) }
    }

    // MARK: - Bytes

    private mutating func separate() {
        if needsComma { bytes.append(JSONByte.comma) }
    }

    private mutating func appendString(_ value: String) {
        bytes.append(JSONByte.quote)
        var value = value
        value.withUTF8 { utf8 in
            var plain = 0  // the bytes before `plain` are written
            for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == JSONByte.quote || byte == JSONByte.backslash {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[plain..<index]))
                plain = index + 1
                switch byte {
                case JSONByte.quote, JSONByte.backslash: bytes.append(contentsOf: [JSONByte.backslash, byte])
                case 0x08: bytes.append(contentsOf: [JSONByte.backslash, UInt8(ascii: "b")])
                case 0x0C: bytes.append(contentsOf: [JSONByte.backslash, UInt8(ascii: "f")])
                case 0x0A: bytes.append(contentsOf: [JSONByte.backslash, UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [JSONByte.backslash, UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [JSONByte.backslash, UInt8(ascii: "t")])
                default: bytes.append(contentsOf: [JSONByte.backslash, UInt8(ascii: "u"), JSONByte.zero, JSONByte.zero,
                                                   Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 0x0F)]])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[plain...]))
        }
        bytes.append(JSONByte.quote)
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
}

// MARK: - What fields hold

extension Int64: JSONWritable {
    func write(to json: inout JSONWriter) { json.int(self) }
}

extension String: JSONWritable {
    func write(to json: inout JSONWriter) { json.string(self) }
}

extension Array: JSONWritable where Element: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.beginArray()
        for element in self { element.write(to: &json) }
        json.endArray()
    }
}

/// An object whose keys come in the order of their UTF-8 bytes.
extension Dictionary: JSONWritable where Key == String, Value: JSONWritable {
    func write(to json: inout JSONWriter) {
        json.beginObject()
        if count == 1, let (name, value) = first {
            json.key(name)
            value.write(to: &json)
        } else if count > 1 {
            for (name, value) in sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                json.key(name)
                value.write(to: &json)
            }
        }
        json.endObject()
    }
}
