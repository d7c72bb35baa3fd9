/// Fixed-width big-endian integers in frames, and ASCII helpers.
enum BigEndian {
    static func bytes(_ value: UInt64) -> [UInt8] {
        var writer = ByteWriter(capacity: 8)
        writer.uint64(value)
        return writer.bytes
    }

    static func bytes(_ value: UInt32) -> [UInt8] {
        var writer = ByteWriter(capacity: 4)
        writer.uint32(value)
        return writer.bytes
    }

    static func uint64<Bytes: Collection>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func uint32<Bytes: Collection>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }
}

extension String {
    /// Decodes UTF-8 strictly; nil for invalid bytes (a frame we cannot name must be refused, not guessed).
    init?(validatingUTF8Bytes bytes: [UInt8]) {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var scalars = String.UnicodeScalarView()
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): scalars.append(scalar)
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        self = String(scalars)
    }
}

/// Short, printable previews of bytes for error messages and logs.
public func preview(_ bytes: [UInt8], limit: Int = 40) -> String {
    let text = String(decoding: bytes.prefix(limit), as: UTF8.self)
    let printable = text.unicodeScalars.map { $0.value >= 32 && $0.value != 127 ? String($0) : "." }.joined()
    return bytes.count > limit ? printable + "..." : printable
}
