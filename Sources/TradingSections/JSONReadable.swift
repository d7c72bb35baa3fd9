/// A value the trading sections read with a `JSONReader`, straight into its fields.
protocol JSONReadable {
    init(json reader: inout JSONReader) throws(JSONReader.Failure)
}

/// An object's key, unescaped: matched against field names with `case "amount":`. It borrows the
/// reader's bytes, so it is valid only during the `readObject` call that hands it over.
///
/// A field name matches its bytes exactly. Foundation's JSONDecoder compares keys as Swift strings
/// (canonically equivalent ones are equal), which for the trading field names, lowercase ASCII and
/// `_`, is the same: no other string is canonically equivalent to them. Map keys are Swift strings.
struct JSONKey {
    let bytes: UnsafeBufferPointer<UInt8>

    /// The key as a Swift string (the key of a map).
    var string: String { String(decoding: bytes, as: UTF8.self) }

    static func ~= (name: StaticString, key: JSONKey) -> Bool {
        guard name.utf8CodeUnitCount == key.bytes.count else { return false }
        for index in 0..<key.bytes.count where name.utf8Start[index] != key.bytes[index] {
            return false
        }
        return true
    }
}

// MARK: - What fields hold

extension Int64: JSONReadable {
    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        self = try reader.int64()
    }
}

extension String: JSONReadable {
    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        self = try reader.string()
    }
}

/// `null` reads as nil (an optional field), anything else as the wrapped type.
extension Optional: JSONReadable where Wrapped: JSONReadable {
    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        self = try reader.readNull() ? nil : Wrapped(json: &reader)
    }
}

extension Array: JSONReadable where Element: JSONReadable {
    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var elements: [Element] = []
        try reader.readArray { reader throws(JSONReader.Failure) in elements.append(try Element(json: &reader)) }
        self = elements
    }
}

/// An object of any keys; the first of equal keys counts, as in Foundation's JSONDecoder (and keys equal
/// as Swift strings are equal: canonically equivalent ones too).
extension Dictionary: JSONReadable where Key == String, Value: JSONReadable {
    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var map: [String: Value] = [:]
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            let name = key.string
            if map[name] == nil {
                map[name] = try Value(json: &reader)
            } else {
                try reader.skipValue()
            }
        }
        self = map
    }
}
