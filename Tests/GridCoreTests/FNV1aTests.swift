import GridCore
import XCTest

/// The partitioning hash: FNV-1a 64 over UTF-8 bytes (DESIGN.md section 4).
///
/// Expected values were computed independently with this Python script:
///
///     def fnv(b):
///         h = 0xcbf29ce484222325
///         for x in b:
///             h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
///         return h
///     for s in ["", "a", "foobar", "42", "customer-1", "hello", "ü", "0", "1", "abc"]:
///         h = fnv(s.encode()); print(repr(s), hex(h), h % 271, h % 7)
final class FNV1aTests: XCTestCase {
    func testConstantsAreTheFNV1a64Ones() {
        XCTAssertEqual(FNV1a.offsetBasis, 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(FNV1a.prime, 0x100_0000_01b3)
    }

    func testKnownVectors() {
        XCTAssertEqual(FNV1a.hash(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(FNV1a.hash("a"), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(FNV1a.hash("foobar"), 0x8594_4171_f739_67e8)
        XCTAssertEqual(FNV1a.hash("42"), 0x07ee_7e07_b4b1_9223)
        XCTAssertEqual(FNV1a.hash("customer-1"), 0x6603_0aab_83c7_0157)
        XCTAssertEqual(FNV1a.hash("abc"), 0xe71f_a219_0541_574b)
    }

    func testHashesUTF8BytesNotCharacters() {
        // "ü" is the two bytes c3 bc; the hash must be over those bytes.
        XCTAssertEqual(FNV1a.hash("ü"), 0x0ac2_0a07_b718_07ea)
        XCTAssertEqual(FNV1a.hash([0xc3, 0xbc] as [UInt8]), 0x0ac2_0a07_b718_07ea)
        // Precomposed and decomposed forms are different bytes, so different hashes (no normalisation).
        XCTAssertNotEqual(FNV1a.hash("\u{00fc}"), FNV1a.hash("u\u{0308}"))
    }

    func testStringAndByteOverloadsAgree() {
        for key in ["", "a", "foobar", "order-12345", "日本語"] {
            XCTAssertEqual(FNV1a.hash(key), FNV1a.hash(Array(key.utf8)), key)
            XCTAssertEqual(FNV1a.hash(key), FNV1a.hash(Array(key.utf8)[...]), key)
        }
    }

    func testOrderOfBytesMatters() {
        XCTAssertNotEqual(FNV1a.hash("ab"), FNV1a.hash("ba"))
    }

    func testHashPartitionOfKnownKeysModulo271() {
        // Expected: python fnv(key) % 271 (script in the class comment).
        let expected: [(String, Int)] = [
            ("", 244), ("a", 49), ("foobar", 28), ("42", 150), ("customer-1", 225),
            ("hello", 57), ("ü", 41), ("0", 125), ("1", 265), ("abc", 54),
        ]
        let partitioner = Partitioner.hash(partitions: Partitioner.defaultPartitionCount)
        XCTAssertEqual(Partitioner.defaultPartitionCount, 271)
        XCTAssertEqual(partitioner.partitionCount, 271)
        for (key, partition) in expected {
            XCTAssertEqual(partitioner.partition(of: Array(key.utf8)), .success(partition), "key '\(key)'")
        }
    }

    func testHashPartitionWithOtherCounts() {
        // python fnv(key) % 7
        let partitioner = Partitioner.hash(partitions: 7)
        XCTAssertEqual(partitioner.partition(of: Array("foobar".utf8)), .success(6))
        XCTAssertEqual(partitioner.partition(of: Array("1".utf8)), .success(1))
        XCTAssertEqual(partitioner.partition(of: Array("0".utf8)), .success(4))
        // One partition: everything lands in 0.
        XCTAssertEqual(Partitioner.hash(partitions: 1).partition(of: Array("anything".utf8)), .success(0))
    }

    func testHashPartitionIsAlwaysInRange() {
        var random = SplitMix64(seed: 271)
        let partitioner = Partitioner.hash(partitions: 271)
        for _ in 0..<2_000 {
            let key = (0..<Int.random(in: 0...20, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            guard case .success(let partition) = partitioner.partition(of: key) else {
                return XCTFail("hash partitioning refused \(key)")
            }
            XCTAssert((0..<271).contains(partition))
            XCTAssertEqual(UInt64(partition), FNV1a.hash(key) % 271)
        }
    }
}
