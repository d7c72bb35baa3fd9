import GridCore
import XCTest

/// A partition's entries: versions are partition sequences, never reused.
final class PartitionStoreTests: XCTestCase {
    func testEveryWriteTakesTheNextSequenceAsItsVersion() {
        var store = PartitionStore(partition: 7, epoch: 3)
        XCTAssertEqual(store.sequence, 0)
        let first = store.put(bytes("k1"), bytes("v1"))
        let second = store.put(bytes("k2"), bytes("v2"))
        let third = store.put(bytes("k1"), bytes("v3"))
        XCTAssertEqual([first.sequence, second.sequence, third.sequence], [1, 2, 3])
        for change in [first, second, third] { XCTAssertEqual(change.version, change.sequence) }
        XCTAssertEqual(store.sequence, 3)
        XCTAssertEqual(store.get(bytes("k1")), Entry(value: bytes("v3"), version: 3))
        XCTAssertEqual(store.get(bytes("k2")), Entry(value: bytes("v2"), version: 2))
        XCTAssertEqual(store.count, 2)
    }

    func testAChangeCarriesEverythingReplicationNeeds() {
        var store = PartitionStore(partition: 42, epoch: 9, sequence: 100)
        XCTAssertEqual(store.put(bytes("key"), bytes("{\"a\":1}")),
                       Change(partition: 42, epoch: 9, sequence: 101, key: bytes("key"), version: 101, kind: .put, value: bytes("{\"a\":1}")))
        XCTAssertEqual(store.delete(bytes("key")),
                       Change(partition: 42, epoch: 9, sequence: 102, key: bytes("key"), version: 102, kind: .delete, value: []))
        XCTAssertEqual(Change.Kind.put.rawValue, 1)
        XCTAssertEqual(Change.Kind.delete.rawValue, 2)
    }

    func testDeletingAMissingKeyTakesNoSequence() {
        var store = PartitionStore(partition: 0, epoch: 1)
        _ = store.put(bytes("a"), bytes("1"))
        XCTAssertNil(store.delete(bytes("b")))
        XCTAssertEqual(store.sequence, 1)
    }

    func testDeleteThenPutGetsAHigherVersionThanBefore() {
        var store = PartitionStore(partition: 0, epoch: 1)
        let original = store.put(bytes("k"), bytes("old")).version
        _ = store.delete(bytes("k"))
        XCTAssertNil(store.get(bytes("k")))
        let recreated = store.put(bytes("k"), bytes("new")).version
        XCTAssertGreaterThan(recreated, original)
        XCTAssertEqual(recreated, 3)
        // A cas holding the pre-delete version must fail: no ABA.
        guard case .failure(let error) = store.compareAndSet(bytes("k"), expected: original, bytes("x")) else {
            return XCTFail("cas with a version from before the delete succeeded")
        }
        XCTAssertEqual(error, .versionConflict(expected: original, actual: recreated))
    }

    func testCompareAndSet() {
        var store = PartitionStore(partition: 1, epoch: 1)
        // 0 on an absent key: create.
        XCTAssertEqual(try store.compareAndSet(bytes("k"), expected: 0, bytes("a")).get().version, 1)
        // The right version: write.
        XCTAssertEqual(try store.compareAndSet(bytes("k"), expected: 1, bytes("b")).get().version, 2)
        // A wrong version: conflict, nothing changes.
        XCTAssertEqual(store.compareAndSet(bytes("k"), expected: 1, bytes("c")), .failure(.versionConflict(expected: 1, actual: 2)))
        XCTAssertEqual(store.compareAndSet(bytes("k"), expected: 0, bytes("c")), .failure(.versionConflict(expected: 0, actual: 2)))
        XCTAssertEqual(store.get(bytes("k")), Entry(value: bytes("b"), version: 2))
        XCTAssertEqual(store.sequence, 2)
        // Non-zero on an absent key: not found.
        XCTAssertEqual(store.compareAndSet(bytes("other"), expected: 5, bytes("c")), .failure(.notFound(bytes("other"))))
        XCTAssertEqual(store.sequence, 2)
    }

    func testStartsFromAGivenSequenceAndEntries() {
        var store = PartitionStore(partition: 3, epoch: 2, sequence: 40, entries: [bytes("k"): Entry(value: bytes("v"), version: 39)])
        XCTAssertEqual(store.get(bytes("k"))?.version, 39)
        XCTAssertEqual(store.put(bytes("k2"), []).version, 41)
        XCTAssertEqual(store.get(bytes("k2")), Entry(value: [], version: 41), "an empty value is a value")
    }

    func testKeysAreBytesNotStrings() {
        var store = PartitionStore(partition: 0, epoch: 1)
        _ = store.put([0xff, 0x00], bytes("binary"))
        _ = store.put(bytes("\u{00fc}"), bytes("composed"))
        _ = store.put(bytes("u\u{0308}"), bytes("decomposed"))
        XCTAssertEqual(store.count, 3)
        XCTAssertEqual(store.get([0xff, 0x00])?.value, bytes("binary"))
        XCTAssertEqual(store.get(bytes("u\u{0308}"))?.value, bytes("decomposed"))
    }
}
