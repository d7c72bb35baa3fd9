import Foundation
import GridCore
import GRDB
@testable import GridStore
import XCTest

final class SQLiteStoreTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("gridstore-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    private var path: String { folder.appendingPathComponent("grid.sqlite").path }






    private func assertStoreError<T>(_ code: StoreError.Code, _ body: () throws(StoreError) -> T,
                                     file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("expected StoreError \(code.rawValue)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
        }
    }

    // MARK: - Round trips

    func testPutsUpdatesDeletesReadBackAfterReopen() throws {
        let binary: [UInt8] = [0xff, 0x00, 0xfe, 0x80, 0x27, 0x22] // not UTF-8, with NUL and quotes
        do {
            let store = try SQLiteStore(path: path)
            try store.commit(batch(1, [
                row(Array("alice".utf8), Array("A1".utf8), version: 1, partition: 3),
                row(binary, [0x00, 0x01, 0xff], version: 2, partition: 5),
                row(Array("bob".utf8), Array("B1".utf8), version: 3, partition: 3),
                row(Array("empty".utf8), [], version: 4, partition: 5),
            ], watermarks: [3: 3, 5: 4]), section: "customer")
            try store.commit(batch(2, [
                row(Array("alice".utf8), Array("A2".utf8), version: 5, partition: 3),
                row(Array("bob".utf8), nil, version: 6, partition: 3),
                row(Array("ghost".utf8), nil, version: 7, partition: 3), // deleting a missing key is fine
            ], watermarks: [3: 7]), section: "customer")
        }
        let store = try SQLiteStore(path: path)
        XCTAssertEqual(try store.watermarks(section: "customer").mapValues(\.sequence), [3: 7, 5: 4])
        let three = try store.rows(section: "customer", partition: 3)
        XCTAssertEqual(three.map(\.key), [Array("alice".utf8)])
        XCTAssertEqual(three.map(\.value), [Array("A2".utf8)])
        XCTAssertEqual(three.map(\.version), [5])
        let five = try store.rows(section: "customer", partition: 5).sorted { $0.key.lexicographicallyPrecedes($1.key) }
        XCTAssertEqual(five.map(\.key), [Array("empty".utf8), binary])
        XCTAssertEqual(five.map(\.value), [[], [0x00, 0x01, 0xff]])
        XCTAssertEqual(five.map(\.version), [4, 2])
        XCTAssertEqual(try store.count(section: "customer"), 3)
        XCTAssertEqual(try store.partitionsWithData(section: "customer"), [3, 5])
    }

    func testWatermarksOnlyGrowAndSectionsAreKeptApart() throws {
        let store = try SQLiteStore(path: path)
        try store.commit(batch(1, [row([1], [1], version: 10, partition: 0)], watermarks: [0: 10, 1: 4]), section: "customer")
        // Lower watermarks (a replayed batch) are ignored; the rows are still upserted.
        try store.commit(batch(2, [row([2], [2], version: 3, partition: 1)], watermarks: [0: 7, 1: 9]), section: "customer")
        XCTAssertEqual(try store.watermarks(section: "customer").mapValues(\.sequence), [0: 10, 1: 9])

        try store.commit(batch(1, [row([1], [9], version: 2, partition: 0, section: "order-book")],
                               watermarks: [0: 2]), section: "order-book")
        XCTAssertEqual(try store.watermarks(section: "order-book").mapValues(\.sequence), [0: 2])
        XCTAssertEqual(try store.watermarks(section: "customer").mapValues(\.sequence), [0: 10, 1: 9])
        XCTAssertEqual(try store.rows(section: "order-book", partition: 0).map(\.value), [[9]])
        XCTAssertEqual(try store.rows(section: "customer", partition: 0).map(\.value), [[1]])
        XCTAssertEqual(try store.count(section: "customer"), 2)
        XCTAssertEqual(try store.count(section: "order-book"), 1)
        // A section never written reads as empty and creates nothing.
        XCTAssertEqual(try store.watermarks(section: "product").mapValues(\.sequence), [:])
        XCTAssertEqual(try store.count(section: "product"), 0)
        XCTAssertEqual(try store.rows(section: "product", partition: 0).count, 0)
        XCTAssertEqual(try store.partitionsWithData(section: "product"), [])
    }

    // MARK: - Epochs and seals

    func testWatermarksCarryTheirEpochsBackAfterReopen() throws {
        do {
            let store = try SQLiteStore(path: path)
            try store.commit(batch(1, [row([1], [1], version: 10, partition: 0), row([2], [2], version: 4, partition: 1)],
                                   marks: [0: mark(10, epoch: 2), 1: mark(4, epoch: 1)]), section: "customer")
            // Above 2^63 - 1 both keep their bit pattern.
            try store.commit(batch(2, [], marks: [2: mark(UInt64.max - 1, epoch: UInt64.max - 2)]), section: "customer")
        }
        let store = try SQLiteStore(path: path)
        XCTAssertEqual(try store.watermarks(section: "customer"),
                       [0: stored(10, epoch: 2), 1: stored(4, epoch: 1), 2: stored(UInt64.max - 1, epoch: UInt64.max - 2)])
    }

    func testALowerWatermarkOfANonReplacingBatchKeepsTheStoredSequenceAndEpoch() throws {
        let store = try SQLiteStore(path: path)
        try store.commit(batch(1, [row([1], [1], version: 10, partition: 0)], marks: [0: mark(10, epoch: 3), 1: mark(4, epoch: 1)]),
                         section: "customer")
        // A replayed batch: partition 0 lower under an older epoch, partition 1 higher under a newer one.
        try store.commit(batch(2, [row([2], [2], version: 7, partition: 0)], marks: [0: mark(7, epoch: 2), 1: mark(9, epoch: 4)]),
                         section: "customer")
        XCTAssertEqual(try store.watermarks(section: "customer"), [0: stored(10, epoch: 3), 1: stored(9, epoch: 4)])
        XCTAssertEqual(try store.rows(section: "customer", partition: 0).map(\.key), [[1], [2]], "the rows are still written")
        // The same sequence again takes the batch's epoch, as the buffer does.
        try store.commit(batch(3, [], marks: [0: mark(10, epoch: 5)]), section: "customer")
        XCTAssertEqual(try store.watermarks(section: "customer")[0], stored(10, epoch: 5))
    }

    func testAReplacingBatchSetsItsPartitionsWatermarkExactly() throws {
        let store = try SQLiteStore(path: path)
        let reloaded: UInt64 = (1 << 32) + 5
        try store.commit(batch(1, [row([1], [1], version: 9, partition: 0), row([2], [2], version: 8, partition: 1)],
                               marks: [0: mark(9, epoch: 2), 1: mark(8, epoch: 2)]), section: "customer")
        // A partition lost and reloaded: its snapshot jumps the sequence by 2^32 under a new epoch.
        try store.commit(batch(2, [row([3], [3], version: reloaded, partition: 0)], marks: [0: mark(reloaded, epoch: 7)],
                               replacing: [0]), section: "customer")
        XCTAssertEqual(try store.watermarks(section: "customer"), [0: stored(reloaded, epoch: 7), 1: stored(8, epoch: 2)])
        // A snapshot below the stored watermark is taken as it is too (its rows are the whole
        // partition), while a partition it does not replace still only rises.
        try store.commit(batch(3, [row([4], [4], version: 3, partition: 0)], marks: [0: mark(3, epoch: 1), 1: mark(5, epoch: 1)],
                               replacing: [0]), section: "customer")
        XCTAssertEqual(try store.watermarks(section: "customer"), [0: stored(3, epoch: 1), 1: stored(8, epoch: 2)])
        XCTAssertEqual(try store.rows(section: "customer", partition: 0).map(\.key), [[4]])
        // More than a multi-row statement's worth of each kind in one batch.
        let size = SQLiteStore.rowsPerStatement
        var marks: [Int: WriteBehindBuffer.Watermark] = [:]
        for partition in 0..<(2 * size + 3) { marks[partition] = mark(UInt64(100 + partition), epoch: 9) }
        try store.commit(batch(4, [], marks: marks), section: "customer")
        var lower: [Int: WriteBehindBuffer.Watermark] = [:]
        for partition in 0..<(2 * size + 3) { lower[partition] = mark(UInt64(partition), epoch: 10) }
        let replaced = Set(stride(from: 0, to: 2 * size + 3, by: 2))
        try store.commit(batch(5, [], marks: lower, replacing: replaced), section: "customer")
        let watermarks = try store.watermarks(section: "customer")
        for partition in 0..<(2 * size + 3) {
            XCTAssertEqual(watermarks[partition], replaced.contains(partition) ? stored(UInt64(partition), epoch: 10)
                                                                                 : stored(UInt64(100 + partition), epoch: 9), "\(partition)")
        }
    }

    func testSealMarksOnlyThePartitionsStoredAtTheGivenSequence() throws {
        do {
            let store = try SQLiteStore(path: path)
            try store.commit(batch(1, [], marks: [0: mark(10, epoch: 1), 1: mark(20, epoch: 1), 2: mark(30, epoch: 2)]),
                             section: "customer")
            try store.commit(batch(1, [], marks: [0: mark(10, epoch: 1)]), section: "order")
            // 1 is behind what its unit led, 3 was never written: neither is sealed.
            XCTAssertEqual(try store.seal(section: "customer", partitions: [0: 10, 1: 21, 2: 30, 3: 0]), [0, 2])
            XCTAssertEqual(try store.seal(section: "customer", partitions: [:]), [])
            // Sealing again at the same sequence says so again.
            XCTAssertEqual(try store.seal(section: "customer", partitions: [0: 10, 1: 19]), [0])
            assertStoreError(.badSection) { () throws(StoreError) in try store.seal(section: "Customer", partitions: [0: 10]) }
        }
        let store = try SQLiteStore(path: path)
        XCTAssertEqual(try store.watermarks(section: "customer"),
                       [0: stored(10, epoch: 1, sealed: true), 1: stored(20, epoch: 1), 2: stored(30, epoch: 2, sealed: true)])
        XCTAssertEqual(try store.watermarks(section: "order"), [0: stored(10, epoch: 1)], "another section's partition 0 stays")
        // Many partitions at once (more than one multi-row statement).
        let size = SQLiteStore.rowsPerStatement
        var marks: [Int: WriteBehindBuffer.Watermark] = [:], led: [Int: UInt64] = [:]
        for partition in 0..<(2 * size + 3) {
            marks[partition] = mark(UInt64(partition + 1), epoch: 3)
            led[partition] = UInt64(partition % 3 == 0 ? partition + 2 : partition + 1)
        }
        try store.commit(batch(2, [], marks: marks), section: "product")
        let sealed = try store.seal(section: "product", partitions: led)
        XCTAssertEqual(sealed, Set((0..<(2 * size + 3)).filter { $0 % 3 != 0 }))
        XCTAssertEqual(Set(try store.watermarks(section: "product").filter(\.value.sealed).keys), sealed)
    }

    func testACommitAfterASealClearsItAndAFailedOneDoesNot() throws {
        let store = try SQLiteStore(path: path)
        try store.commit(batch(1, [row([1], [1], version: 10, partition: 0)],
                               marks: [0: mark(10, epoch: 1), 1: mark(20, epoch: 1), 2: mark(30, epoch: 1), 3: mark(40, epoch: 1)]),
                         section: "customer")
        XCTAssertEqual(try store.seal(section: "customer", partitions: [0: 10, 1: 20, 2: 30, 3: 40]), [0, 1, 2, 3])
        // A batch that fails leaves the seals (and everything else) as they were.
        let broken = batch(2, [row([2], [2], version: 11, partition: 0), row([3], [3], version: 12, section: "order")],
                           marks: [0: mark(12, epoch: 2)])
        assertStoreError(.badSection) { () throws(StoreError) in try store.commit(broken, section: "customer") }
        XCTAssertEqual(try store.watermarks(section: "customer")[0], stored(10, epoch: 1, sealed: true))
        // 0 moves on; 1 gets a replayed, lower watermark (the sequence stays, the seal goes all
        // the same); 2 is replaced by a snapshot; 3 is not in the batch and stays sealed.
        try store.commit(batch(3, [row([2], [2], version: 11, partition: 0)],
                               marks: [0: mark(11, epoch: 2), 1: mark(15, epoch: 1), 2: mark(31, epoch: 2)], replacing: [2]),
                         section: "customer")
        XCTAssertEqual(try store.watermarks(section: "customer"),
                       [0: stored(11, epoch: 2), 1: stored(20, epoch: 1), 2: stored(31, epoch: 2), 3: stored(40, epoch: 1, sealed: true)])
        // A replaced partition without a watermark in the batch loses its seal too.
        var snapshot = batch(4, [], marks: [:])
        snapshot.replacing = [3]
        try store.commit(snapshot, section: "customer")
        XCTAssertEqual(try store.watermarks(section: "customer")[3], stored(40, epoch: 1))
        // And it can be sealed again at its new sequence.
        XCTAssertEqual(try store.seal(section: "customer", partitions: [0: 11, 1: 20]), [0, 1])
    }

    func testRowsOfOnePartitionPartitionsWithDataAndCount() throws {
        let store = try SQLiteStore(path: path)
        var rows: [WriteBehindBuffer.Row] = []
        for index in 0..<60 {
            rows.append(row(Array("k\(index)".utf8), Array("v\(index)".utf8), version: UInt64(index + 1),
                            partition: index % 4 * 2, section: "product"))
        }
        try store.commit(batch(1, rows, watermarks: [0: 57, 2: 58, 4: 59, 6: 60]), section: "product")
        XCTAssertEqual(try store.partitionsWithData(section: "product"), [0, 2, 4, 6])
        XCTAssertEqual(try store.count(section: "product"), 60)
        let four = try store.rows(section: "product", partition: 4)
        XCTAssertEqual(Set(four.map { String(decoding: $0.key, as: UTF8.self) }),
                       Set(stride(from: 2, to: 60, by: 4).map { "k\($0)" }))
        for entry in four {
            let index = Int(String(decoding: entry.key.dropFirst(), as: UTF8.self))!
            XCTAssertEqual(entry.value, Array("v\(index)".utf8))
            XCTAssertEqual(entry.version, UInt64(index + 1))
        }
        XCTAssertEqual(try store.rows(section: "product", partition: 1).count, 0)
        // Deleting every row of a partition removes it from partitionsWithData.
        try store.commit(batch(2, four.map { row($0.key, nil, version: 100, partition: 4, section: "product") },
                               watermarks: [4: 100]), section: "product")
        XCTAssertEqual(try store.partitionsWithData(section: "product"), [0, 2, 6])
        XCTAssertEqual(try store.count(section: "product"), 45)
    }

    func testEachKeysLastStateInABatchIsStoredAcrossStatementChunks() throws {
        let store = try SQLiteStore(path: path)
        let size = SQLiteStore.rowsPerStatement
        // More rows, deletes and watermarks than fill whole multi-row statements.
        let keys = 3 * size + 5
        try store.commit(batch(1, (0..<keys).map { row(Array("k\($0)".utf8), Array("v\($0)".utf8), version: UInt64($0 + 1),
                                                           partition: $0 % (2 * size + 3)) },
                               watermarks: Dictionary(uniqueKeysWithValues: (0..<(2 * size + 3)).map { ($0, UInt64(keys)) })),
                         section: "customer")
        XCTAssertEqual(try store.count(section: "customer"), keys)
        XCTAssertEqual(try store.watermarks(section: "customer").count, 2 * size + 3)

        let deleted = 2 * size + 1
        var rows = (0..<deleted).map { row(Array("k\($0)".utf8), nil, version: 1_000, partition: $0 % (2 * size + 3)) }
        // One key written twice, one put then deleted, one deleted then put again:
        // the later state wins, as if the rows were applied in order.
        let last = keys - 1, putThenDeleted = keys - 2, deletedThenPut = 0
        rows.append(row(Array("k\(last)".utf8), Array("first".utf8), version: 1_001, partition: last % (2 * size + 3)))
        rows.append(row(Array("new".utf8), Array("gone".utf8), version: 1_002, partition: 1))
        rows.append(row(Array("k\(putThenDeleted)".utf8), nil, version: 1_003, partition: putThenDeleted % (2 * size + 3)))
        rows.append(row(Array("k\(last)".utf8), Array("second".utf8), version: 1_004, partition: last % (2 * size + 3)))
        rows.append(row(Array("new".utf8), nil, version: 1_005, partition: 1))
        rows.append(row(Array("k\(deletedThenPut)".utf8), Array("back".utf8), version: 1_006, partition: 0))
        try store.commit(batch(2, rows, watermarks: [1: 1_005, 0: 1_006]), section: "customer")

        var stored: [String: (value: String, version: UInt64)] = [:]
        try store.scan(section: "customer", partitions: nil) { _, key, value, version in
            stored[String(decoding: key, as: UTF8.self)] = (String(decoding: value, as: UTF8.self), version)
        }
        var expected: [String: (value: String, version: UInt64)] = [:]
        for index in deleted..<keys where index != putThenDeleted { expected["k\(index)"] = ("v\(index)", UInt64(index + 1)) }
        expected["k\(last)"] = ("second", 1_004)
        expected["k\(deletedThenPut)"] = ("back", 1_006)
        XCTAssertEqual(stored.keys.sorted(), expected.keys.sorted())
        for (key, entry) in expected {
            XCTAssertEqual(stored[key]?.value, entry.value, key)
            XCTAssertEqual(stored[key]?.version, entry.version, key)
        }
        var watermarks = Dictionary(uniqueKeysWithValues: (0..<(2 * size + 3)).map { ($0, UInt64(keys)) })
        watermarks[0] = 1_006
        watermarks[1] = 1_005
        XCTAssertEqual(try store.watermarks(section: "customer").mapValues(\.sequence), watermarks)
    }

    func testFilesUseWALWithFullSynchronous() throws {
        let store = try SQLiteStore(path: path)
        XCTAssertEqual(try store.strings("PRAGMA journal_mode"), ["wal"])
        XCTAssertEqual(try store.strings("PRAGMA synchronous"), ["2"], "FULL: NORMAL may lose the last commits on a power loss")
        XCTAssertEqual(try store.strings("PRAGMA wal_autocheckpoint"), ["\(SQLiteStore.walAutocheckpointPages)"])
    }

    /// A database file as the v2 schema left it, written by hand: its migrations, watermarks
    /// without epoch or seal, and a `customer` table with `rows` (SQL value tuples).
    private func versionTwoFile(watermarks: String, rows: String) throws -> DatabaseQueue {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                INSERT INTO grdb_migrations VALUES ('v1'), ('v2');
                CREATE TABLE spacegrid_watermarks (section TEXT NOT NULL, partition INTEGER NOT NULL, sequence INTEGER NOT NULL,
                    PRIMARY KEY (section, partition)) WITHOUT ROWID;
                INSERT INTO spacegrid_watermarks VALUES \(watermarks);
                CREATE TABLE "section_customer" (partition INTEGER NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
                    version INTEGER NOT NULL, updated INTEGER NOT NULL, PRIMARY KEY (partition, key)) WITHOUT ROWID;
                INSERT INTO "section_customer" VALUES \(rows);
                """)
        }
        return queue
    }

    func testAVersion2FileWithTheRollbackJournalSwitchesToWAL() throws {
        do {
            let queue = try versionTwoFile(watermarks: "('customer', 3, 7)", rows: "(3, X'61', X'31', 5, 0), (3, X'62', X'32', 7, 0)")
            XCTAssertEqual(try queue.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }, "delete")
        }
        let store = try SQLiteStore(path: path)
        XCTAssertEqual(try store.strings("PRAGMA journal_mode"), ["wal"])
        XCTAssertEqual(try store.rows(section: "customer", partition: 3).map(\.value), [Array("1".utf8), Array("2".utf8)])
        try store.commit(batch(1, [row(Array("a".utf8), Array("9".utf8), version: 8, partition: 3)], watermarks: [3: 8]),
                         section: "customer")
        XCTAssertEqual(try SQLiteStore(path: path).rows(section: "customer", partition: 3).map(\.value),
                       [Array("9".utf8), Array("2".utf8)])
        XCTAssertEqual(try store.watermarks(section: "customer").mapValues(\.sequence), [3: 8])
    }

    // MARK: - Atomicity and failures

    func testBatchFailingMidwayLeavesNeitherRowsNorWatermarks() throws {
        let store = try SQLiteStore(path: path)
        try store.commit(batch(1, [row([1], [1], version: 1)], watermarks: [0: 1]), section: "customer")
        // Valid rows first, then a row that can't be written (another section's): all undone.
        let broken = batch(2, [
            row([1], [2], version: 2),
            row([2], [2], version: 3),
            row([3], [3], version: 4, section: "Not A Section"),
        ], watermarks: [0: 4])
        assertStoreError(.badSection) { () throws(StoreError) in try store.commit(broken, section: "customer") }
        XCTAssertEqual(try store.watermarks(section: "customer").mapValues(\.sequence), [0: 1])
        XCTAssertEqual(try store.rows(section: "customer", partition: 0).map(\.value), [[1]])

        // The same on a section's first batch: its table is not left behind either.
        let first = batch(1, [row([1], [1], version: 1, section: "order"), row([2], [2], version: 2, section: "customer")],
                          watermarks: [0: 2])
        assertStoreError(.badSection) { () throws(StoreError) in try store.commit(first, section: "order") }
        XCTAssertEqual(try store.count(section: "order"), 0)
        XCTAssertEqual(try store.watermarks(section: "order").mapValues(\.sequence), [:])
        XCTAssertFalse(try tableExists("section_order"))
        // And the section works afterwards (its table is created then).
        try store.commit(batch(2, [row([1], [1], version: 1, section: "order")], watermarks: [0: 1]), section: "order")
        XCTAssertEqual(try store.count(section: "order"), 1)
    }

    func testFullDiskMidBatchIsUnwritableLeavesNothingAndTheSameStoreRetries() throws {
        let store = try SQLiteStore(path: path)
        try store.commit(batch(1, [row([1], [1], version: 1)], watermarks: [0: 1]), section: "customer")
        // Big enough to need new pages part way through the batch.
        let big = batch(2, (0..<500).map { row(Array("key-\($0)".utf8), [UInt8](repeating: 7, count: 200), version: UInt64($0 + 2)) },
                        watermarks: [0: 501])
        try store.capFileSize(true)
        assertStoreError(.unwritable) { () throws(StoreError) in try store.commit(big, section: "customer") }
        XCTAssertEqual(try store.count(section: "customer"), 1)
        XCTAssertEqual(try store.watermarks(section: "customer").mapValues(\.sequence), [0: 1])
        // The disk has room again: the mirror's retry of the same batch succeeds on the same store.
        try store.capFileSize(false)
        try store.commit(big, section: "customer")
        XCTAssertEqual(try store.count(section: "customer"), 501)
        XCTAssertEqual(try store.watermarks(section: "customer").mapValues(\.sequence), [0: 501])
    }

    func testUnwritableFileFailsThenTheSameStoreWorksAgain() throws {
        let store = try SQLiteStore(path: path)
        try store.commit(batch(1, [row([1], [1], version: 1)], watermarks: [0: 1]), section: "customer")
        let next = batch(2, [row([2], [2], version: 2)], watermarks: [0: 2])
        if geteuid() != 0 {
            // A read-only file, opened by a second instance after the chmod: refused.
            XCTAssertEqual(chmod(path, 0o444), 0)
            let second = try SQLiteStore(path: path)
            assertStoreError(.unwritable) { () throws(StoreError) in try second.commit(next, section: "customer") }
            XCTAssertEqual(chmod(path, 0o644), 0)
        }
        // Root ignores permissions: move the whole folder away (a volume gone) instead.
        // SQLite notices the file it has open is no longer at its path and refuses to write.
        let away = folder.deletingLastPathComponent().appendingPathComponent(folder.lastPathComponent + "-away")
        try FileManager.default.moveItem(at: folder, to: away)
        do {
            assertStoreError(.unwritable) { () throws(StoreError) in try store.commit(next, section: "customer") }
        }
        try FileManager.default.moveItem(at: away, to: folder)
        XCTAssertEqual(try store.watermarks(section: "customer").mapValues(\.sequence), [0: 1])
        try store.commit(next, section: "customer")
        XCTAssertEqual(try store.watermarks(section: "customer").mapValues(\.sequence), [0: 2])
        XCTAssertEqual(try store.count(section: "customer"), 2)
    }

    func testAFileDeletedUnderTheStoreIsRefused() throws {
        let store = try SQLiteStore(path: path)
        try store.commit(batch(1, [row([1], [1], version: 1)], watermarks: [0: 1]), section: "customer")
        // The -wal file stays: WAL mode alone would append to it and report success.
        try FileManager.default.removeItem(atPath: path)
        assertStoreError(.unwritable) { () throws(StoreError) in
            try store.commit(batch(2, [row([2], [2], version: 2)], watermarks: [0: 2]), section: "customer")
        }
        // A seal too: the file it would mark is not the one a cold start will read.
        assertStoreError(.unwritable) { () throws(StoreError) in try store.seal(section: "customer", partitions: [0: 1]) }
    }

    func testAnotherConnectionsWriteLockFailsCommitsAfterTheBusyTimeoutUntilReleased() throws {
        let store = try SQLiteStore(path: path, busyTimeout: 0.2)
        try store.commit(batch(1, [row([1], [1], version: 1)], watermarks: [0: 1]), section: "customer")
        let locker = try lockingConnection()
        try locker.writeWithoutTransaction { try $0.execute(sql: "BEGIN EXCLUSIVE") }
        let next = batch(2, [row([2], [2], version: 2)], watermarks: [0: 2])
        assertStoreError(.unreachable) { () throws(StoreError) in try store.commit(next, section: "customer") }
        // Reads go on meanwhile, and see nothing of the failed batch.
        XCTAssertEqual(try store.watermarks(section: "customer").mapValues(\.sequence), [0: 1])
        XCTAssertEqual(try store.count(section: "customer"), 1)
        try locker.writeWithoutTransaction { try $0.execute(sql: "ROLLBACK") }
        try store.commit(next, section: "customer")
        XCTAssertEqual(try store.watermarks(section: "customer").mapValues(\.sequence), [0: 2])
        XCTAssertEqual(try store.count(section: "customer"), 2)
    }

    func testAReaderDoesNotBlockCommits() throws {
        // A unit's cold start reading while the mirror writes: the rollback journal made
        // the writer wait for the reader (SQLITE_BUSY after the timeout).
        let store = try SQLiteStore(path: path, busyTimeout: 0.2)
        try store.commit(batch(1, [row([1], [1], version: 1)], watermarks: [0: 1]), section: "customer")
        let reader = try lockingConnection()
        try reader.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN")
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM section_customer"), 1)
        }
        try store.commit(batch(2, [row([2], [2], version: 2)], watermarks: [0: 2]), section: "customer")
        XCTAssertEqual(try store.count(section: "customer"), 2)
        try reader.writeWithoutTransaction { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM section_customer"), 1, "the reader's snapshot")
            try db.execute(sql: "COMMIT")
            XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM section_customer"), 2)
        }
    }

    /// A second connection to the file whose transactions may stay open between calls.
    private func lockingConnection() throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true
        return try DatabaseQueue(path: path, configuration: configuration)
    }

    func testOpeningFailuresAreMapped() throws {
        assertStoreError(.unreachable) { () throws(StoreError) in
            try SQLiteStore(path: folder.appendingPathComponent("missing/folder/grid.sqlite").path)
        }
        let garbage = folder.appendingPathComponent("garbage.sqlite")
        try Data(repeating: 0x5a, count: 4096).write(to: garbage)
        assertStoreError(.corrupt) { () throws(StoreError) in try SQLiteStore(path: garbage.path) }
    }

    func testBadSectionIsRefusedAndCreatesNothing() throws {
        let store = try SQLiteStore(path: path)
        let bad = ["", "Customer", "9lives", "a b", "x\"; DROP TABLE spacegrid_watermarks; --", "-a", "a.b",
                   String(repeating: "a", count: 33), "é"]
        for name in bad {
            let rows = [row([1], [1], version: 1, section: name)]
            assertStoreError(.badSection) { () throws(StoreError) in try store.commit(batch(1, rows, watermarks: [0: 1]), section: name) }
            assertStoreError(.badSection) { () throws(StoreError) in try store.watermarks(section: name) }
            assertStoreError(.badSection) { () throws(StoreError) in try store.rows(section: name, partition: 0) }
            assertStoreError(.badSection) { () throws(StoreError) in try store.count(section: name) }
            assertStoreError(.badSection) { () throws(StoreError) in try store.partitionsWithData(section: name) }
        }
        XCTAssertEqual(try tableNames(), ["spacegrid_watermarks"])
        XCTAssertEqual(try rawCount("SELECT COUNT(*) FROM spacegrid_watermarks"), 0)
        // The longest and oddest valid names work.
        for name in [String(repeating: "z", count: 32), "a", "a-b_c-9", "select", "sqlite_master", "spacegrid_watermarks"] {
            try store.commit(batch(1, [row([1], [1], version: 1, section: name)], watermarks: [0: 1]), section: name)
            XCTAssertEqual(try store.count(section: name), 1)
        }
    }

    // MARK: - Throughput

    func testHundredThousandRowsInBatchesOfAThousand() throws {
        let store = try SQLiteStore(path: path)
        let total = 100_000, batchSize = 1_000, partitions = 16
        let start = Date()
        var sequence: UInt64 = 0
        for batchIndex in 0..<(total / batchSize) {
            var rows: [WriteBehindBuffer.Row] = []
            rows.reserveCapacity(batchSize)
            var watermarks: [Int: UInt64] = [:]
            for offset in 0..<batchSize {
                let index = batchIndex * batchSize + offset
                sequence += 1
                let partition = index % partitions
                rows.append(row(Array("account-\(index)".utf8), Array(#"{"id":\#(index),"balance":1000}"#.utf8),
                                version: sequence, partition: partition))
                watermarks[partition] = sequence
            }
            try store.commit(batch(UInt64(batchIndex + 1), rows, watermarks: watermarks), section: "customer")
        }
        let writeSeconds = Date().timeIntervalSince(start)

        let reopened = try SQLiteStore(path: path)
        let readStart = Date()
        var read = 0
        for partition in 0..<partitions {
            let rows = try reopened.rows(section: "customer", partition: partition)
            read += rows.count
            XCTAssertEqual(rows.count, total / partitions)
        }
        let readSeconds = Date().timeIntervalSince(readStart)
        XCTAssertEqual(read, total)
        XCTAssertEqual(try reopened.count(section: "customer"), total)
        XCTAssertEqual(try reopened.watermarks(section: "customer").count, partitions)
        XCTAssertEqual(try reopened.watermarks(section: "customer")[15]?.sequence, UInt64(total))
        print(String(format: "GridStore SQLite: wrote %d rows in batches of %d in %.2f s (%.0f rows/s); read back in %.2f s (%.0f rows/s)",
                     total, batchSize, writeSeconds, Double(total) / writeSeconds, readSeconds, Double(read) / readSeconds))
    }

    // MARK: - Helpers reading the file directly

    /// Through a second instance on the same file.
    private func tableExists(_ name: String) throws -> Bool {
        try tableNames().contains(name)
    }

    private func tableNames() throws -> [String] {
        try SQLiteStore(path: path).strings("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .filter { !$0.hasPrefix("grdb_") && !$0.hasPrefix("sqlite_") }
    }

    private func rawCount(_ sql: String) throws -> Int {
        Int(try SQLiteStore(path: path).strings(sql).first ?? "0") ?? 0
    }

    // MARK: - Snapshots and scans

    func testReplacingRemovesThePartitionsOldRowsInTheSameTransaction() throws {
        let store = try SQLiteStore(path: path)
        try store.commit(batch(1, [
            row(Array("a".utf8), [1], version: 1, partition: 0),
            row(Array("b".utf8), [2], version: 2, partition: 0),
            row(Array("z".utf8), [9], version: 1, partition: 1),
        ], watermarks: [0: 2, 1: 1]), section: "customer")
        var snapshot = batch(2, [row(Array("a".utf8), [5], version: 5, partition: 0)], watermarks: [0: 6])
        snapshot.replacing = [0]
        try store.commit(snapshot, section: "customer")
        XCTAssertEqual(try store.rows(section: "customer", partition: 0).map(\.key), [Array("a".utf8)], "b was deleted meanwhile")
        XCTAssertEqual(try store.rows(section: "customer", partition: 0).map(\.version), [5])
        XCTAssertEqual(try store.rows(section: "customer", partition: 1).map(\.key), [Array("z".utf8)], "other partitions stay")
        XCTAssertEqual(try store.watermarks(section: "customer").mapValues(\.sequence), [0: 6, 1: 1])

        // A failing replacement changes nothing (the delete is undone with the rest).
        var stray = batch(3, [row([7], [7], version: 7, partition: 1, section: "order")], watermarks: [1: 7])
        stray.replacing = [1]
        assertStoreError(.badSection) { () throws(StoreError) in try store.commit(stray, section: "customer") }
        XCTAssertEqual(try store.rows(section: "customer", partition: 1).map(\.key), [Array("z".utf8)])
    }

    func testScanReadsEveryRowOrOnlyTheNamedPartitions() throws {
        let store = try SQLiteStore(path: path)
        try store.commit(batch(1, (0..<30).map { row([UInt8($0)], [UInt8($0), 1], version: UInt64($0 + 1), partition: $0 % 3) },
                               watermarks: [0: 30, 1: 30, 2: 30]), section: "customer")
        var all: [Int: Int] = [:]
        try store.scan(section: "customer", partitions: nil) { partition, key, value, version in
            XCTAssertEqual(Int(key[0]) % 3, partition)
            XCTAssertEqual(value, [key[0], 1])
            XCTAssertEqual(version, UInt64(key[0]) + 1)
            all[partition, default: 0] += 1
        }
        XCTAssertEqual(all, [0: 10, 1: 10, 2: 10])
        var some: Set<Int> = []
        try store.scan(section: "customer", partitions: [2]) { partition, _, _, _ in some.insert(partition) }
        XCTAssertEqual(some, [2])
        var none = 0
        try store.scan(section: "unknown", partitions: nil) { _, _, _, _ in none += 1 }
        XCTAssertEqual(none, 0, "a section never written reads as empty")
    }

    // MARK: - Migration

    func testAVersion1FileIsRebuiltWithItsRowsAndWritesGoOn() throws {
        // A file as the first schema left it: key-only primary key and a partition index.
        do {
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in
                try db.execute(sql: """
                    CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                    INSERT INTO grdb_migrations VALUES ('v1');
                    CREATE TABLE spacegrid_watermarks (section TEXT NOT NULL, partition INTEGER NOT NULL, sequence INTEGER NOT NULL,
                        PRIMARY KEY (section, partition)) WITHOUT ROWID;
                    INSERT INTO spacegrid_watermarks VALUES ('customer', 3, 7);
                    CREATE TABLE "section_customer" (key BLOB PRIMARY KEY, partition INTEGER NOT NULL, value BLOB NOT NULL,
                        version INTEGER NOT NULL, updated INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE INDEX "section_customer_partition" ON "section_customer" (partition);
                    INSERT INTO "section_customer" VALUES (X'61', 3, X'31', 5, 0), (X'62', 3, X'32', 7, 0), (X'63', 4, X'33', 2, 0);
                    """)
            }
        }
        let store = try SQLiteStore(path: path)
        XCTAssertEqual(try store.watermarks(section: "customer"), [3: stored(7, epoch: 0)])
        XCTAssertEqual(try store.rows(section: "customer", partition: 3).map(\.key), [Array("a".utf8), Array("b".utf8)])
        XCTAssertEqual(try store.count(section: "customer"), 3)
        try store.commit(batch(1, [row(Array("a".utf8), Array("9".utf8), version: 8, partition: 3),
                                   row(Array("b".utf8), nil, version: 9, partition: 3)], watermarks: [3: 9]), section: "customer")
        XCTAssertEqual(try store.rows(section: "customer", partition: 3).map(\.value), [Array("9".utf8)])
        XCTAssertEqual(try store.count(section: "customer"), 2, "updated in place, not added beside")
        XCTAssertEqual(try store.strings("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%_partition'"), [],
                       "the partition index is gone")
        XCTAssertEqual(try store.strings("PRAGMA journal_mode"), ["wal"])
    }

    func testAVersion2FileGetsEpochsAndSealsKeepingItsRowsAndWatermarks() throws {
        // A file as the v2 schema left it (WAL already), by hand: watermarks without epoch and sealed.
        do {
            let queue = try versionTwoFile(watermarks: "('customer', 3, 7), ('customer', 4, 2), ('order', 3, -2)",
                                           rows: "(3, X'61', X'31', 5, 0), (3, X'62', X'32', 7, 0), (4, X'63', X'33', 2, 0)")
            _ = try queue.writeWithoutTransaction { try String.fetchOne($0, sql: "PRAGMA journal_mode = WAL") }
        }
        let store = try SQLiteStore(path: path)
        XCTAssertEqual(try store.strings("SELECT identifier FROM grdb_migrations ORDER BY identifier"), ["v1", "v2", "v3"])
        XCTAssertEqual(try store.strings("SELECT name FROM pragma_table_info('spacegrid_watermarks') ORDER BY cid"),
                       ["section", "partition", "sequence", "epoch", "sealed"])
        // Old watermarks read as epoch 0, not sealed; sequences keep their bit pattern.
        XCTAssertEqual(try store.watermarks(section: "customer"), [3: stored(7, epoch: 0), 4: stored(2, epoch: 0)])
        XCTAssertEqual(try store.watermarks(section: "order"), [3: stored(UInt64.max - 1, epoch: 0)])
        XCTAssertEqual(try store.rows(section: "customer", partition: 3).map(\.value), [Array("1".utf8), Array("2".utf8)])
        XCTAssertEqual(try store.count(section: "customer"), 3)
        // Writes, epochs and seals work on the migrated table.
        try store.commit(batch(1, [row(Array("a".utf8), Array("9".utf8), version: 8, partition: 3)], marks: [3: mark(8, epoch: 4)]),
                         section: "customer")
        XCTAssertEqual(try store.seal(section: "customer", partitions: [3: 8, 4: 2]), [3, 4])
        XCTAssertEqual(try SQLiteStore(path: path).watermarks(section: "customer"),
                       [3: stored(8, epoch: 4, sealed: true), 4: stored(2, epoch: 0, sealed: true)])
        XCTAssertEqual(try store.rows(section: "customer", partition: 3).map(\.value), [Array("9".utf8), Array("2".utf8)])
    }
}
