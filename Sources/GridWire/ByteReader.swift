/// Reads fixed-width big-endian fields and length-prefixed byte strings from
/// a frame, failing (never trapping) when the frame is too short.
struct ByteReader {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { index == bytes.count }
    var remaining: Int { bytes.count - index }

    mutating func uint8() -> UInt8? {
        guard remaining >= 1 else { return nil }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func uint32() -> UInt32? {
        guard remaining >= 4 else { return nil }
        defer { index += 4 }
        return BigEndian.uint32(bytes[index..<index + 4])
    }

    mutating func uint64() -> UInt64? {
        guard remaining >= 8 else { return nil }
        defer { index += 8 }
        return BigEndian.uint64(bytes[index..<index + 8])
    }

    /// A byte string preceded by its length (u32).
    mutating func lengthPrefixed() -> [UInt8]? {
        guard let length = uint32(), remaining >= Int(length) else { return nil }
        defer { index += Int(length) }
        return Array(bytes[index..<index + Int(length)])
    }
}

/// Appends fixed-width big-endian fields and length-prefixed byte strings.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    mutating func uint8(_ value: UInt8) { bytes.append(value) }

    mutating func uint32(_ value: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    mutating func uint64(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    mutating func lengthPrefixed(_ value: [UInt8]) {
        uint32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }
}
