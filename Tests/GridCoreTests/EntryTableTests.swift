import GridCore
import XCTest

/// The compact entry table: a dictionary from key bytes to entries, checked
/// against `[[UInt8]: Entry]` as the model.
final class EntryTableTests: XCTestCase {
    func testInsertOverwriteDeleteLookup() {
        var table = EntryTable()
        XCTAssertTrue(table.isEmpty)
        XCTAssertNil(table[bytes("a")])
        table[bytes("a")] = Entry(value: bytes("1"), version: 1)
        table.update(bytes("b"), bytes("2"), version: 2)
        XCTAssertEqual(table.count, 2)
        XCTAssertEqual(table[bytes("a")], Entry(value: bytes("1"), version: 1))
        XCTAssertEqual(table.version(of: bytes("b")), 2)

        table[bytes("a")] = Entry(value: bytes("longer than before"), version: 3)
        XCTAssertEqual(table.count, 2, "an overwrite keeps one entry per key")
        XCTAssertEqual(table[bytes("a")], Entry(value: bytes("longer than before"), version: 3))
        table.update(bytes("a"), [], version: 4)
        XCTAssertEqual(table[bytes("a")], Entry(value: [], version: 4), "an empty value is a value")

        XCTAssertTrue(table.remove(bytes("a")))
        XCTAssertFalse(table.remove(bytes("a")))
        XCTAssertNil(table[bytes("a")])
        XCTAssertNil(table.version(of: bytes("a")))
        table[bytes("b")] = nil
        XCTAssertTrue(table.isEmpty)
    }

    func testKeysDifferingOnlyInLengthOrLastByteAreDistinct() {
        var table = EntryTable()
        let keys: [[UInt8]] = [[], [0], [0, 0], [0, 0, 0], [0, 1], [1, 0], bytes("ab"), bytes("abc"), [0xff, 0x00], [0xff]]
        for (index, key) in keys.enumerated() { table.update(key, [UInt8(index)], version: UInt64(index + 1)) }
        XCTAssertEqual(table.count, keys.count)
        for (index, key) in keys.enumerated() {
            XCTAssertEqual(table[key], Entry(value: [UInt8(index)], version: UInt64(index + 1)), "key \(key)")
        }
    }

    func testLongKeysAndValuesCrossTheOneByteLengths() {
        var table = EntryTable()
        // Lengths around 127/128 and 16383/16384 take one, two and three length bytes.
        for length in [1, 126, 127, 128, 129, 255, 300, 1_023, 1_024] {
            let key = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ length) }
            let value = (0..<(length * 16 + 1)).map { UInt8(truncatingIfNeeded: $0 ^ length) }
            table.update(key, value, version: UInt64(length))
        }
        for length in [1, 126, 127, 128, 129, 255, 300, 1_023, 1_024] {
            let key = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ length) }
            let value = (0..<(length * 16 + 1)).map { UInt8(truncatingIfNeeded: $0 ^ length) }
            XCTAssertEqual(table[key], Entry(value: value, version: UInt64(length)), "length \(length)")
        }
        XCTAssertEqual(table.count, 9)
    }

    func testIterationHandsOutEveryEntryOnce() {
        var table = EntryTable()
        var model: [[UInt8]: Entry] = [:]
        for index in 0..<500 {
            let key = bytes("key-\(index)")
            let entry = Entry(value: bytes("{\"balance\":\(index)}"), version: UInt64(index + 1))
            table[key] = entry
            model[key] = entry
        }
        var seen: [[UInt8]: Entry] = [:]
        for (key, entry) in table {
            XCTAssertNil(seen.updateValue(entry, forKey: key), "twice: \(text(key))")
        }
        XCTAssertEqual(seen, model)
        XCTAssertEqual(table.underestimatedCount, 500)
        XCTAssertEqual(EntryTable(model), table)
    }

    /// Many keys sharing long prefixes, written, overwritten and deleted at
    /// random, always agree with a dictionary.
    func testAgreesWithADictionaryUnderRandomWrites() {
        var random = SplitMix64(seed: 17)
        var table = EntryTable()
        var model: [[UInt8]: Entry] = [:]
        let prefix = [UInt8](repeating: 0x41, count: 200)
        for step in 0..<20_000 {
            let key = prefix + bytes("\(random.next() % 3_000)")
            switch random.next() % 4 {
            case 0:
                XCTAssertEqual(table.remove(key), model.removeValue(forKey: key) != nil, "step \(step)")
            default:
                let value = [UInt8](repeating: UInt8(step & 0xff), count: Int(random.next() % 150))
                let entry = Entry(value: value, version: UInt64(step + 1))
                table[key] = entry
                model[key] = entry
            }
            XCTAssertEqual(table.count, model.count)
        }
        for index in 0..<3_000 {
            let key = prefix + bytes("\(index)")
            XCTAssertEqual(table[key], model[key], "key \(index)")
            XCTAssertEqual(table.version(of: key), model[key]?.version)
        }
        XCTAssertEqual(table, EntryTable(model))
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: table.map { ($0.key, $0.value) }), model)
    }

    func testCopiesAreIndependent() {
        var original: EntryTable = [bytes("a"): Entry(value: bytes("1"), version: 1)]
        let copy = original
        original.update(bytes("a"), bytes("2"), version: 2)
        original.update(bytes("b"), bytes("3"), version: 3)
        XCTAssertEqual(copy, [bytes("a"): Entry(value: bytes("1"), version: 1)])
        XCTAssertEqual(original[bytes("a")], Entry(value: bytes("2"), version: 2))
    }

    func testEqualityLooksAtVersionsAndValues() {
        let base: EntryTable = [bytes("a"): Entry(value: bytes("1"), version: 1)]
        XCTAssertEqual(base, [bytes("a"): Entry(value: bytes("1"), version: 1)])
        XCTAssertNotEqual(base, [bytes("a"): Entry(value: bytes("1"), version: 2)])
        XCTAssertNotEqual(base, [bytes("a"): Entry(value: bytes("2"), version: 1)])
        XCTAssertNotEqual(base, [bytes("b"): Entry(value: bytes("1"), version: 1)])
        XCTAssertNotEqual(base, [:])
        XCTAssertEqual(EntryTable(), [:])
    }

    func testDescriptionIsSortedAndReadable() {
        let table: EntryTable = [bytes("k2"): Entry(value: bytes("v2"), version: 2), bytes("k1"): Entry(value: bytes("v3"), version: 3)]
        XCTAssertEqual(table.description, "[k1: v3@3, k2: v2@2]")
    }
}
