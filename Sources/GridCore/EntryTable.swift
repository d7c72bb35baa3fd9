/// The entries of one partition, laid out for memory: each entry is a single
/// allocation (version, key and value bytes together) in a set keyed by the key
/// bytes. A `[[UInt8]: Entry]` spent two arrays and a 24-byte slot per entry.
///
/// A value like the dictionary it replaces: an entry is never changed in place
/// (a write makes a new one), so copies of the table share entries safely.
/// That is also why it may be `Sendable` although `ManagedBuffer` is not.
public struct EntryTable: @unchecked Sendable {
    private var members: Set<Member>

    public init() {
        members = []
    }

    public init(minimumCapacity: Int) {
        members = Set(minimumCapacity: minimumCapacity)
    }

    /// A table holding the given entries (the last one of a key wins).
    public init<Entries: Sequence>(_ entries: Entries) where Entries.Element == (key: [UInt8], value: Entry) {
        self.init(minimumCapacity: entries.underestimatedCount)
        for (key, entry) in entries { self[key] = entry }
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }

    /// The entry of `key`; reading copies the value out.
    public subscript(key: [UInt8]) -> Entry? {
        get { box(key).map { Entry(value: $0.value, version: $0.version) } }
        set {
            if let newValue {
                update(key, newValue.value, version: newValue.version)
            } else {
                remove(key)
            }
        }
    }

    /// The version of `key`'s entry, without copying its value.
    public func version(of key: [UInt8]) -> UInt64? { box(key)?.version }

    /// Stores `value` at `version` under `key`: one allocation.
    public mutating func update(_ key: [UInt8], _ value: [UInt8], version: UInt64) {
        let box = key.withUnsafeBytes { key in
            value.withUnsafeBytes { value in EntryBox.make(key: key, value: value, version: version) }
        }
        members.update(with: .stored(box))
    }

    /// Removes `key`'s entry; false when there was none.
    @discardableResult
    public mutating func remove(_ key: [UInt8]) -> Bool {
        members.remove(.probe(key)) != nil
    }

    private func box(_ key: [UInt8]) -> EntryBox? {
        guard let index = members.firstIndex(of: .probe(key)), case .stored(let box) = members[index] else { return nil }
        return box
    }
}

extension EntryTable: Sequence {
    /// Hands out copies of each key and entry, in no particular order.
    public struct Iterator: IteratorProtocol {
        fileprivate var base: Set<Member>.Iterator

        public mutating func next() -> (key: [UInt8], value: Entry)? {
            guard case .stored(let box)? = base.next() else { return nil }
            return (box.key, Entry(value: box.value, version: box.version))
        }
    }

    public func makeIterator() -> Iterator { Iterator(base: members.makeIterator()) }

    public var underestimatedCount: Int { count }
}

extension EntryTable: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: ([UInt8], Entry)...) {
        self.init(elements.lazy.map { (key: $0.0, value: $0.1) })
    }
}

extension EntryTable: Equatable {
    public static func == (lhs: EntryTable, rhs: EntryTable) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for member in lhs.members {
            guard case .stored(let mine) = member, let index = rhs.members.firstIndex(of: member),
                  case .stored(let theirs) = rhs.members[index], mine.version == theirs.version,
                  mine.withValue({ a in theirs.withValue { b in a.elementsEqual(b) } })
            else { return false }
        }
        return true
    }
}

extension EntryTable: CustomStringConvertible {
    /// Sorted by key, bytes read as UTF-8: `[k1: v3@3, k2: v2@2]` (for test failures).
    public var description: String {
        let text = { (bytes: [UInt8]) in String(decoding: bytes, as: UTF8.self) }
        let items = sorted { $0.key.lexicographicallyPrecedes($1.key) }
            .map { "\(text($0.key)): \(text($0.value.value))@\($0.value.version)" }
        return "[" + items.joined(separator: ", ") + "]"
    }
}

// MARK: - Storage

/// What the set holds: a stored entry, or, only while looking one up, the
/// caller's key (so a lookup neither allocates nor copies the key). Both hash
/// and compare by key bytes alone.
private enum Member: Hashable {
    case stored(EntryBox)
    case probe([UInt8])

    func withKey<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        switch self {
        case .stored(let box): box.withKey(body)
        case .probe(let key): key.withUnsafeBytes(body)
        }
    }

    static func == (lhs: Member, rhs: Member) -> Bool {
        lhs.withKey { a in rhs.withKey { b in a.count == b.count && a.elementsEqual(b) } }
    }

    func hash(into hasher: inout Hasher) {
        withKey { hasher.combine(bytes: $0) }
    }
}

/// One entry in one allocation: the version as the header, then the key's length,
/// the key, the value's length and the value. Lengths are LEB128 (one byte below
/// 128), so an account (6-byte key, 19-byte value) fits a 64-byte malloc block
/// with the object's 16-byte header; two 32-bit lengths would push it to 80.
private final class EntryBox: ManagedBuffer<UInt64, UInt8> {
    static func make(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, version: UInt64) -> EntryBox {
        let size = varintSize(key.count) + key.count + varintSize(value.count) + value.count
        let box = unsafeDowncast(create(minimumCapacity: size) { _ in version }, to: EntryBox.self)
        box.withUnsafeMutablePointerToElements { start in
            var at = start
            write(key, &at)
            write(value, &at)
        }
        return box
    }

    private static func write(_ bytes: UnsafeRawBufferPointer, _ at: inout UnsafeMutablePointer<UInt8>) {
        writeVarint(bytes.count, &at)
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        UnsafeMutableRawPointer(at).copyMemory(from: base, byteCount: bytes.count)
        at += bytes.count
    }

    var version: UInt64 { header }

    func withKey<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        withUnsafeMutablePointerToElements { start in
            var at = UnsafePointer(start)
            let count = readVarint(&at)
            return body(UnsafeRawBufferPointer(start: at, count: count))
        }
    }

    func withValue<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        withUnsafeMutablePointerToElements { start in
            var at = UnsafePointer(start)
            at += readVarint(&at)
            let count = readVarint(&at)
            return body(UnsafeRawBufferPointer(start: at, count: count))
        }
    }

    var key: [UInt8] { withKey { Array($0) } }
    var value: [UInt8] { withValue { Array($0) } }
}

private func varintSize(_ value: Int) -> Int {
    var size = 1
    var rest = UInt(value) >> 7
    while rest != 0 {
        size += 1
        rest >>= 7
    }
    return size
}

private func writeVarint(_ value: Int, _ at: inout UnsafeMutablePointer<UInt8>) {
    var rest = UInt(value)
    while rest >= 0x80 {
        at.pointee = UInt8(truncatingIfNeeded: rest) | 0x80
        at += 1
        rest >>= 7
    }
    at.pointee = UInt8(rest)
    at += 1
}

private func readVarint(_ at: inout UnsafePointer<UInt8>) -> Int {
    var value: UInt = 0
    var shift: UInt = 0
    while true {
        let byte = at.pointee
        at += 1
        value |= UInt(byte & 0x7f) << shift
        if byte < 0x80 { return Int(value) }
        shift += 7
    }
}
