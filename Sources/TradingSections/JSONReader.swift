/// A strict, allocation-light JSON reader for the trading sections' values,
/// arguments and replies: a type reads itself field by field (`JSONReadable`),
/// so nothing is built that the operation does not keep.
///
/// What it takes:
/// 1. RFC 8259 JSON: whitespace is space, tab, line feed, carriage return;
///    strings are valid UTF-8 with no raw control character, escapes are the
///    RFC's (`\uXXXX` with surrogate pairs, no lone surrogate).
/// 2. Integers as `-?(0|[1-9][0-9]*)` within `Int64`. A fraction or an
///    exponent fails with `notAnInteger`, even `1.0`; a number in a skipped
///    field may have both, and any size.
/// 3. At most 512 nested objects and arrays, as Foundation's JSONDecoder.
/// 4. A key that appears twice: the first value counts and the later ones are
///    checked as JSON and skipped (`first(_:)`), as Foundation's JSONDecoder
///    does for the fields of a type and the keys of a dictionary.
///
/// It refuses more than Foundation's JSONDecoder, which lets pass, among others,
/// `1.0` and `1e2` for an integer, a trailing comma, a byte-order mark, and
/// leading zeros, raw control characters or unknown escapes in fields it
/// skips. `TradingJSON` therefore asks Foundation whenever the reader fails, so
/// every input decodes, or fails with the same message, exactly as it did
/// with Foundation alone; the reader only makes the common case fast.
///
/// The reader borrows the document's bytes for the time of `read(_:from:)`,
/// the only way to make one: no copy, no reference counting, no bounds check
/// in release builds (every index is checked against the count by hand).
struct JSONReader {
    /// Why the reader stopped, and at which byte offset.
    enum Failure: Error, Equatable {
        /// Not strict JSON: a stray byte, invalid UTF-8, a bad escape, a leading zero, bytes after the value.
        case syntax(at: Int)
        /// A number where an integer is read that has a fraction or an exponent, or does not fit 64 bits.
        case notAnInteger(at: Int)
        /// More than `maximumDepth` nested objects and arrays.
        case tooDeep(at: Int)
        /// A JSON value of another type than the field's (null included).
        case wrongType(at: Int)
        /// A string that is none of the values the field takes (an unknown state, say).
        case invalidValue(at: Int)
        /// An object without this required field.
        case missingField(String)
    }

    /// The deepest nesting of objects and arrays taken (Foundation's JSONDecoder: 512).
    static let maximumDepth = 512

    private let bytes: UnsafeBufferPointer<UInt8>
    /// The offset of the next byte to read.
    private(set) var offset = 0
    private var depth = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// Reads a document that holds one `Value` and nothing else but whitespace.
    static func read<Value: JSONReadable>(_ type: Value.Type, from bytes: [UInt8]) throws(Failure) -> Value {
        try bytes.withUnsafeBufferPointer { bytes throws(Failure) in
            var reader = JSONReader(bytes)
            let value = try Value(json: &reader)
            guard reader.peek() == nil else { throw .syntax(at: reader.offset) }
            return value
        }
    }

    /// A required field's value, or `missingField`.
    static func required<Value>(_ value: Value?, _ name: StaticString) throws(Failure) -> Value {
        guard let value else { throw .missingField(name.description) }
        return value
    }

    // MARK: - Containers

    /// Reads an object, calling `field` with each key; `field` must read (or skip) its value.
    mutating func readObject(_ field: (inout JSONReader, JSONKey) throws(Failure) -> Void) throws(Failure) {
        try enter(JSONByte.openBrace)
        if peek() == JSONByte.closeBrace {
            leave()
            return
        }
        while true {
            guard peek() == JSONByte.quote else { throw .syntax(at: offset) }
            let key = try scanString()
            guard peek() == JSONByte.colon else { throw .syntax(at: offset) }
            offset += 1
            switch key {
            case .plain(let range):
                try field(&self, JSONKey(bytes: UnsafeBufferPointer(rebasing: bytes[range])))
            case .escaped(let unescaped):
                try unescaped.withUnsafeBufferPointer { unescaped throws(Failure) in try field(&self, JSONKey(bytes: unescaped)) }
            }
            switch peek() {
            case JSONByte.comma: offset += 1
            case JSONByte.closeBrace: leave(); return
            default: throw .syntax(at: offset)
            }
        }
    }

    /// Reads an array, calling `element` for each element; `element` must read (or skip) it.
    mutating func readArray(_ element: (inout JSONReader) throws(Failure) -> Void) throws(Failure) {
        try enter(JSONByte.openBracket)
        if peek() == JSONByte.closeBracket {
            leave()
            return
        }
        while true {
            try element(&self)
            switch peek() {
            case JSONByte.comma: offset += 1
            case JSONByte.closeBracket: leave(); return
            default: throw .syntax(at: offset)
            }
        }
    }

    /// Reads a field's value the first time its key appears; a later copy of the key is checked and skipped,
    /// as Foundation's JSONDecoder keeps the first.
    mutating func first<Value: JSONReadable>(_ field: inout Value?) throws(Failure) {
        if case .none = field {
            field = try Value(json: &self)
        } else {
            try skipValue()
        }
    }

    /// Reads a `null` when that is what comes next (an optional field may hold one); false otherwise.
    mutating func readNull() throws(Failure) -> Bool {
        guard peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    // MARK: - Scalars

    /// An integer of 64 bits, with no fraction or exponent.
    mutating func int64() throws(Failure) -> Int64 {
        guard let first = peek() else { throw .syntax(at: offset) }
        guard first == JSONByte.minus || JSONByte.isDigit(first) else { throw mismatch(first) }
        let start = offset
        if first == JSONByte.minus { offset += 1 }
        guard offset < bytes.count, JSONByte.isDigit(bytes[offset]) else { throw .syntax(at: offset) }
        var magnitude: UInt64 = 0
        var overflow = false
        if bytes[offset] == JSONByte.zero {
            offset += 1
        } else {
            while offset < bytes.count, JSONByte.isDigit(bytes[offset]) {
                let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(UInt64(bytes[offset] - JSONByte.zero))
                magnitude = sum
                overflow = overflow || o1 || o2
                offset += 1
            }
        }
        if offset < bytes.count, bytes[offset] == JSONByte.dot || bytes[offset] == JSONByte.e || bytes[offset] == JSONByte.capitalE {
            offset = start
            try skipNumber()  // a syntax failure when the rest is no number either
            throw .notAnInteger(at: start)
        }
        if first == JSONByte.minus {
            guard !overflow, magnitude <= UInt64(Int64.max) + 1 else { throw .notAnInteger(at: start) }
            return Int64(truncatingIfNeeded: 0 &- magnitude)
        }
        guard !overflow, magnitude <= UInt64(Int64.max) else { throw .notAnInteger(at: start) }
        return Int64(magnitude)
    }

    /// A string, unescaped.
    mutating func string() throws(Failure) -> String {
        guard let first = peek() else { throw .syntax(at: offset) }
        guard first == JSONByte.quote else { throw mismatch(first) }
        switch try scanString() {
        case .plain(let range): return String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        case .escaped(let unescaped): return String(decoding: unescaped, as: UTF8.self)
        }
    }

    /// Checks any one value (of any size and depth up to the limit) and moves past it.
    mutating func skipValue() throws(Failure) {
        switch peek() {
        case JSONByte.openBrace: try readObject { reader, _ throws(Failure) in try reader.skipValue() }
        case JSONByte.openBracket: try readArray { reader throws(Failure) in try reader.skipValue() }
        case JSONByte.quote: _ = try scanString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case let byte? where byte == JSONByte.minus || JSONByte.isDigit(byte): try skipNumber()
        default: throw .syntax(at: offset)
        }
    }

    // MARK: - Bytes

    /// The next byte after whitespace, not consumed; nil at the end.
    private mutating func peek() -> UInt8? {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x0A, 0x0D, 0x09: offset += 1
            default: return bytes[offset]
            }
        }
        return nil
    }

    private mutating func enter(_ opening: UInt8) throws(Failure) {
        guard let byte = peek() else { throw .syntax(at: offset) }
        guard byte == opening else { throw mismatch(byte) }
        guard depth < Self.maximumDepth else { throw .tooDeep(at: offset) }
        depth += 1
        offset += 1
    }

    private mutating func leave() {
        depth -= 1
        offset += 1
    }

    /// `wrongType` when `byte` starts a JSON value (of another type), `syntax` when it starts none.
    private func mismatch(_ byte: UInt8) -> Failure {
        switch byte {
        case JSONByte.openBrace, JSONByte.openBracket, JSONByte.quote, JSONByte.minus, UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            .wrongType(at: offset)
        default:
            JSONByte.isDigit(byte) ? .wrongType(at: offset) : .syntax(at: offset)
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard offset + count <= bytes.count else { throw .syntax(at: offset) }
        for index in 0..<count where bytes[offset + index] != word.utf8Start[index] {
            throw .syntax(at: offset)
        }
        offset += count
    }

    /// A JSON number of any size: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    private mutating func skipNumber() throws(Failure) {
        if offset < bytes.count, bytes[offset] == JSONByte.minus { offset += 1 }
        guard offset < bytes.count, JSONByte.isDigit(bytes[offset]) else { throw .syntax(at: offset) }
        if bytes[offset] == JSONByte.zero {
            offset += 1
        } else {
            skipDigits()
        }
        if offset < bytes.count, bytes[offset] == JSONByte.dot {
            offset += 1
            guard offset < bytes.count, JSONByte.isDigit(bytes[offset]) else { throw .syntax(at: offset) }
            skipDigits()
        }
        if offset < bytes.count, bytes[offset] == JSONByte.e || bytes[offset] == JSONByte.capitalE {
            offset += 1
            if offset < bytes.count, bytes[offset] == JSONByte.plus || bytes[offset] == JSONByte.minus { offset += 1 }
            guard offset < bytes.count, JSONByte.isDigit(bytes[offset]) else { throw .syntax(at: offset) }
            skipDigits()
        }
    }

    private mutating func skipDigits() {
        while offset < bytes.count, JSONByte.isDigit(bytes[offset]) { offset += 1 }
    }

    /// A string's content, checked as UTF-8: where it is in the input when it has no escape, else unescaped.
    private enum ScannedString {
        case plain(Range<Int>)
        case escaped([UInt8])
    }

    /// The string at `offset` (at its opening quote).
    private mutating func scanString() throws(Failure) -> ScannedString {
        offset += 1
        let start = offset
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == JSONByte.quote {
                offset += 1
                return .plain(start..<offset - 1)
            }
            if byte == JSONByte.backslash { return .escaped(try escapedStringBytes(from: start)) }
            if byte < 0x20 { throw .syntax(at: offset) }
            if byte < 0x80 {
                offset += 1
            } else {
                offset += try utf8Length(at: offset)
            }
        }
        throw .syntax(at: offset)
    }

    /// The rest of a string from its first escape on (`start` is where its content starts).
    private mutating func escapedStringBytes(from start: Int) throws(Failure) -> [UInt8] {
        var out = Array(bytes[start..<offset])
        while offset < bytes.count {
            let byte = bytes[offset]
            switch byte {
            case JSONByte.quote:
                offset += 1
                return out
            case JSONByte.backslash:
                guard offset + 1 < bytes.count else { throw .syntax(at: offset) }
                let escaped = bytes[offset + 1]
                offset += 2
                switch escaped {
                case JSONByte.quote, JSONByte.backslash, JSONByte.slash: out.append(escaped)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"): appendUTF8(try escapedScalar(), to: &out)
                default: throw .syntax(at: offset - 1)
                }
            case 0..<0x20:
                throw .syntax(at: offset)
            case 0..<0x80:
                out.append(byte)
                offset += 1
            default:
                let length = try utf8Length(at: offset)
                out.append(contentsOf: bytes[offset..<offset + length])
                offset += length
            }
        }
        throw .syntax(at: offset)
    }

    /// The scalar of `\uXXXX` (after the `\u`), joining a surrogate pair; a lone surrogate is a syntax failure.
    private mutating func escapedScalar() throws(Failure) -> UInt32 {
        let high = try hex4()
        switch high {
        case 0xD800..<0xDC00:
            guard offset + 1 < bytes.count, bytes[offset] == JSONByte.backslash, bytes[offset + 1] == UInt8(ascii: "u") else {
                throw .syntax(at: offset)
            }
            offset += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else { throw .syntax(at: offset - 4) }
            return 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        case 0xDC00..<0xE000:
            throw .syntax(at: offset - 4)
        default:
            return high
        }
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw .syntax(at: offset) }
        var value: UInt32 = 0
        for byte in bytes[offset..<offset + 4] {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = value << 4 | UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = value << 4 | UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw .syntax(at: offset)
            }
        }
        offset += 4
        return value
    }

    private func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(contentsOf: [UInt8(0xC0 | scalar >> 6), UInt8(0x80 | scalar & 0x3F)])
        case 0x800..<0x10000:
            out.append(contentsOf: [UInt8(0xE0 | scalar >> 12), UInt8(0x80 | scalar >> 6 & 0x3F), UInt8(0x80 | scalar & 0x3F)])
        default:
            out.append(contentsOf: [UInt8(0xF0 | scalar >> 18), UInt8(0x80 | scalar >> 12 & 0x3F),
                                    UInt8(0x80 | scalar >> 6 & 0x3F), UInt8(0x80 | scalar & 0x3F)])
        }
    }

    /// The length of the well-formed UTF-8 sequence of 2 to 4 bytes at `start` (Unicode table 3-7: no
    /// overlong form, no surrogate, nothing above U+10FFFF), or a syntax failure.
    private func utf8Length(at start: Int) throws(Failure) -> Int {
        let lead = bytes[start]
        let length: Int
        var second: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; second = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; second = 0x80...0x9F
        case 0xF0: length = 4; second = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; second = 0x80...0x8F
        default: throw .syntax(at: start)
        }
        guard start + length <= bytes.count, second.contains(bytes[start + 1]) else { throw .syntax(at: start) }
        for index in start + 2..<start + length where !(0x80...0xBF).contains(bytes[index]) {
            throw .syntax(at: start)
        }
        return length
    }
}
