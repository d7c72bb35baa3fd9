import Foundation
import GridCore
@testable import GridStore
import XCTest

/// Against a real server: `scripts/test` starts a throwaway one and sets
/// SPACEGRID_POSTGRES_URL (and _DATA, _CTL for the pause and resume test). Without it
/// the tests that need a server are skipped; URL parsing and refused connections run anyway.
///
/// Every test writes to sections of its own (a random suffix) and drops them at the end,
/// so tests sharing the database never see each other's rows.
final class PostgresStoreTests: XCTestCase {
    private var tag = ""
    private var sections: Set<String> = []
    /// Schemas of this test only (dropped with everything in them in tearDown).
    private var schemas: Set<String> = []

    override func setUp() {
        tag = String((0..<8).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
        sections = []
        schemas = []
    }

    override func tearDownWithError() throws {
        guard let url = Self.url, !sections.isEmpty || !schemas.isEmpty else { return }
        let store = try PostgresStore(url: url)
        for section in sections {
            _ = try store.strings("DROP TABLE IF EXISTS \(try sectionTable(for: section))")
            _ = try store.strings("DELETE FROM spacegrid_watermarks WHERE section = '\(section)'")
        }
        for schema in schemas {
            _ = try store.strings("DROP SCHEMA IF EXISTS \(schema) CASCADE")
        }
    }

    private static var url: String? {
        ProcessInfo.processInfo.environment["SPACEGRID_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The server's URL, or the test is skipped.
    private func serverURL() throws -> String {
        guard let url = Self.url else {
            throw XCTSkip("PostgreSQL tests skipped: SPACEGRID_POSTGRES_URL is not set; scripts/test starts a server")
        }
        return url
    }

    /// A section name of this test only (dropped in tearDown).
    private func section(_ base: String) -> String {
        let name = "\(base)-\(tag)"
        sections.insert(name)
        return name
    }






    private func assertStoreError<T>(_ code: StoreError.Code, _ body: () throws(StoreError) -> T,
                                     file: StaticString = #filePath, line: UInt = #line) -> StoreError? {
        do {
            _ = try body()
            XCTFail("expected StoreError \(code.rawValue)", file: file, line: line)
            return nil
        } catch {
            XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
            return error
        }
    }

    private func tableExists(_ store: PostgresStore, _ section: String) throws -> Bool {
        try !store.strings("SELECT tablename::text FROM pg_tables WHERE tablename = 'section_\(section)'").isEmpty
    }

    // MARK: - Round trips

    func testPutsUpdatesDeletesReadBackAfterReopen() throws {
        let url = try serverURL()
        let customer = section("customer")
        let binary: [UInt8] = [0xff, 0x00, 0xfe, 0x80, 0x27, 0x22, 0x5c] // not UTF-8, with NUL, quotes, backslash
        do {
            let store = try PostgresStore(url: url)
            try store.commit(batch(1, [
                row(Array("alice".utf8), Array("A1".utf8), version: 1, partition: 3, section: customer),
                row(binary, [0x00, 0x01, 0xff], version: 2, partition: 5, section: customer),
                row(Array("bob".utf8), Array("B1".utf8), version: 3, partition: 3, section: customer),
                row(Array("empty".utf8), [], version: 4, partition: 5, section: customer),
            ], watermarks: [3: 3, 5: 4]), section: customer)
            try store.commit(batch(2, [
                row(Array("alice".utf8), Array("A2".utf8), version: 5, partition: 3, section: customer),
                row(Array("bob".utf8), nil, version: 6, partition: 3, section: customer),
                row(Array("ghost".utf8), nil, version: 7, partition: 3, section: customer), // deleting a missing key is fine
            ], watermarks: [3: 7]), section: customer)
        }
        let store = try PostgresStore(url: url)
        XCTAssertEqual(try store.watermarks(section: customer).mapValues(\.sequence), [3: 7, 5: 4])
        let three = try store.rows(section: customer, partition: 3)
        XCTAssertEqual(three.map(\.key), [Array("alice".utf8)])
        XCTAssertEqual(three.map(\.value), [Array("A2".utf8)])
        XCTAssertEqual(three.map(\.version), [5])
        // Key order is byte order: "empty" (0x65...) before 0xff....
        let five = try store.rows(section: customer, partition: 5)
        XCTAssertEqual(five.map(\.key), [Array("empty".utf8), binary])
        XCTAssertEqual(five.map(\.value), [[], [0x00, 0x01, 0xff]])
        XCTAssertEqual(five.map(\.version), [4, 2])
        XCTAssertEqual(try store.count(section: customer), 3)
        XCTAssertEqual(try store.partitionsWithData(section: customer), [3, 5])
    }

    func testWatermarksOnlyGrowAndSectionsAreKeptApart() throws {
        let store = try PostgresStore(url: try serverURL())
        let customer = section("customer"), orderBook = section("order-book"), product = section("product")
        try store.commit(batch(1, [row([1], [1], version: 10, partition: 0, section: customer)], watermarks: [0: 10, 1: 4]),
                         section: customer)
        // Lower watermarks (a replayed batch) are ignored; the rows are still upserted.
        try store.commit(batch(2, [row([2], [2], version: 3, partition: 1, section: customer)], watermarks: [0: 7, 1: 9]),
                         section: customer)
        XCTAssertEqual(try store.watermarks(section: customer).mapValues(\.sequence), [0: 10, 1: 9])
        // Sequences above 2^63 - 1 keep their bit pattern.
        try store.commit(batch(3, [], watermarks: [2: UInt64.max - 1]), section: customer)
        XCTAssertEqual(try store.watermarks(section: customer).mapValues(\.sequence), [0: 10, 1: 9, 2: UInt64.max - 1])

        try store.commit(batch(1, [row([1], [9], version: 2, partition: 0, section: orderBook)], watermarks: [0: 2]), section: orderBook)
        XCTAssertEqual(try store.watermarks(section: orderBook).mapValues(\.sequence), [0: 2])
        XCTAssertEqual(try store.watermarks(section: customer).mapValues(\.sequence), [0: 10, 1: 9, 2: UInt64.max - 1])
        XCTAssertEqual(try store.rows(section: orderBook, partition: 0).map(\.value), [[9]])
        XCTAssertEqual(try store.rows(section: customer, partition: 0).map(\.value), [[1]])
        XCTAssertEqual(try store.count(section: customer), 2)
        XCTAssertEqual(try store.count(section: orderBook), 1)
        // A section never written reads as empty and creates nothing.
        XCTAssertEqual(try store.watermarks(section: product).mapValues(\.sequence), [:])
        XCTAssertEqual(try store.count(section: product), 0)
        XCTAssertEqual(try store.rows(section: product, partition: 0).count, 0)
        XCTAssertEqual(try store.partitionsWithData(section: product), [])
        var scanned = 0
        try store.scan(section: product, partitions: nil) { _, _, _, _ in scanned += 1 }
        XCTAssertEqual(scanned, 0)
        XCTAssertFalse(try tableExists(store, product))
        XCTAssertTrue(try tableExists(store, customer))
    }

    // MARK: - Epochs and seals

    func testWatermarksCarryTheirEpochsAndALowerOneOutsideASnapshotChangesNothing() throws {
        let url = try serverURL()
        let customer = section("customer")
        do {
            let store = try PostgresStore(url: url)
            try store.commit(batch(1, [row([1], [1], version: 10, partition: 0, section: customer)],
                                   marks: [0: mark(10, epoch: 3), 1: mark(4, epoch: 1)]), section: customer)
            // Above 2^63 - 1 both keep their bit pattern.
            try store.commit(batch(2, [], marks: [2: mark(UInt64.max - 1, epoch: UInt64.max - 2)]), section: customer)
            // A replayed batch: partition 0 lower under an older epoch, partition 1 higher under a newer one.
            try store.commit(batch(3, [row([2], [2], version: 7, partition: 0, section: customer)],
                                   marks: [0: mark(7, epoch: 2), 1: mark(9, epoch: 4)]), section: customer)
        }
        let store = try PostgresStore(url: url)
        XCTAssertEqual(try store.watermarks(section: customer),
                       [0: stored(10, epoch: 3), 1: stored(9, epoch: 4), 2: stored(UInt64.max - 1, epoch: UInt64.max - 2)])
        XCTAssertEqual(try store.rows(section: customer, partition: 0).map(\.key), [[1], [2]], "the rows are still written")
        // The same sequence again takes the batch's epoch, as the buffer does.
        try store.commit(batch(4, [], marks: [0: mark(10, epoch: 5)]), section: customer)
        XCTAssertEqual(try store.watermarks(section: customer)[0], stored(10, epoch: 5))
    }

    func testAReplacingBatchSetsItsPartitionsWatermarkExactly() throws {
        let store = try PostgresStore(url: try serverURL())
        let customer = section("customer")
        let reloaded: UInt64 = (1 << 32) + 5
        try store.commit(batch(1, [row([1], [1], version: 9, partition: 0, section: customer)],
                               marks: [0: mark(9, epoch: 2), 1: mark(8, epoch: 2)]), section: customer)
        // A partition lost and reloaded: its snapshot jumps the sequence by 2^32 under a new epoch.
        try store.commit(batch(2, [row([3], [3], version: reloaded, partition: 0, section: customer)],
                               marks: [0: mark(reloaded, epoch: 7)], replacing: [0]), section: customer)
        XCTAssertEqual(try store.watermarks(section: customer), [0: stored(reloaded, epoch: 7), 1: stored(8, epoch: 2)])
        // A snapshot below the stored watermark is taken as it is too, while a partition it
        // does not replace still only rises.
        try store.commit(batch(3, [row([4], [4], version: 3, partition: 0, section: customer)],
                               marks: [0: mark(3, epoch: 1), 1: mark(5, epoch: 1)], replacing: [0]), section: customer)
        XCTAssertEqual(try store.watermarks(section: customer), [0: stored(3, epoch: 1), 1: stored(8, epoch: 2)])
        XCTAssertEqual(try store.rows(section: customer, partition: 0).map(\.key), [[4]])
    }

    func testSealMarksOnlyMatchingPartitionsAndACommitClearsIt() throws {
        let url = try serverURL()
        let customer = section("customer"), order = section("order")
        do {
            let store = try PostgresStore(url: url)
            try store.commit(batch(1, [row([1], [1], version: 10, partition: 0, section: customer)],
                                   marks: [0: mark(10, epoch: 1), 1: mark(20, epoch: 1), 2: mark(30, epoch: 2), 4: mark(40, epoch: 1)]),
                             section: customer)
            try store.commit(batch(1, [], marks: [0: mark(10, epoch: 1)]), section: order)
            // 1 is behind what its unit led, 3 was never written: neither is sealed.
            XCTAssertEqual(try store.seal(section: customer, partitions: [0: 10, 1: 21, 2: 30, 3: 0, 4: 40]), [0, 2, 4])
            XCTAssertEqual(try store.seal(section: customer, partitions: [:]), [])
            XCTAssertEqual(try store.seal(section: customer, partitions: [0: 10, 1: 19]), [0], "sealing again says so again")
            _ = assertStoreError(.badSection) { () throws(StoreError) in try store.seal(section: "Customer", partitions: [0: 10]) }
        }
        let store = try PostgresStore(url: url)
        XCTAssertEqual(try store.watermarks(section: customer),
                       [0: stored(10, epoch: 1, sealed: true), 1: stored(20, epoch: 1), 2: stored(30, epoch: 2, sealed: true),
                        4: stored(40, epoch: 1, sealed: true)])
        XCTAssertEqual(try store.watermarks(section: order), [0: stored(10, epoch: 1)], "another section's partition 0 stays")

        // A batch that fails leaves the seals as they were.
        let broken = batch(2, [row([2], [2], version: 11, partition: 0, section: customer), row([3], [3], version: 12, section: order)],
                           marks: [0: mark(12, epoch: 2)])
        _ = assertStoreError(.badSection) { () throws(StoreError) in try store.commit(broken, section: customer) }
        XCTAssertEqual(try store.watermarks(section: customer)[0], stored(10, epoch: 1, sealed: true))
        // 0 moves on, 2 gets a replayed lower watermark (kept, but unsealed), 4 is not in the batch.
        try store.commit(batch(3, [row([2], [2], version: 11, partition: 0, section: customer)],
                               marks: [0: mark(11, epoch: 2), 2: mark(25, epoch: 1)]), section: customer)
        XCTAssertEqual(try store.watermarks(section: customer),
                       [0: stored(11, epoch: 2), 1: stored(20, epoch: 1), 2: stored(30, epoch: 2),
                        4: stored(40, epoch: 1, sealed: true)])
        // A snapshot clears it too, with or without a watermark for the partition.
        try store.commit(batch(4, [], marks: [:], replacing: [4]), section: customer)
        XCTAssertEqual(try store.watermarks(section: customer)[4], stored(40, epoch: 1))
        XCTAssertEqual(try store.seal(section: customer, partitions: [4: 40]), [4])
        try store.commit(batch(5, [], marks: [4: mark(50, epoch: 3)], replacing: [4]), section: customer)
        XCTAssertEqual(try store.watermarks(section: customer)[4], stored(50, epoch: 3))
    }

    func testRowsOfOnePartitionPartitionsWithDataAndCount() throws {
        let store = try PostgresStore(url: try serverURL())
        let product = section("product")
        var rows: [WriteBehindBuffer.Row] = []
        for index in 0..<60 {
            rows.append(row(Array("k\(index)".utf8), Array("v\(index)".utf8), version: UInt64(index + 1),
                            partition: index % 4 * 2, section: product))
        }
        try store.commit(batch(1, rows, watermarks: [0: 57, 2: 58, 4: 59, 6: 60]), section: product)
        XCTAssertEqual(try store.partitionsWithData(section: product), [0, 2, 4, 6])
        XCTAssertEqual(try store.count(section: product), 60)
        let four = try store.rows(section: product, partition: 4)
        XCTAssertEqual(four.map { String(decoding: $0.key, as: UTF8.self) },
                       stride(from: 2, to: 60, by: 4).map { "k\($0)" }.sorted())
        for entry in four {
            let index = Int(String(decoding: entry.key.dropFirst(), as: UTF8.self))!
            XCTAssertEqual(entry.value, Array("v\(index)".utf8))
            XCTAssertEqual(entry.version, UInt64(index + 1))
        }
        XCTAssertEqual(try store.rows(section: product, partition: 1).count, 0)
        // Deleting every row of a partition removes it from partitionsWithData.
        try store.commit(batch(2, four.map { row($0.key, nil, version: 100, partition: 4, section: product) },
                               watermarks: [4: 100]), section: product)
        XCTAssertEqual(try store.partitionsWithData(section: product), [0, 2, 6])
        XCTAssertEqual(try store.count(section: product), 45)
    }

    func testReplacingRemovesAPartitionsOldRowsInTheSameTransaction() throws {
        let store = try PostgresStore(url: try serverURL())
        let customer = section("customer")
        try store.commit(batch(1, [
            row([1], [1], version: 1, partition: 1, section: customer),
            row([2], [2], version: 2, partition: 1, section: customer),
            row([3], [3], version: 3, partition: 2, section: customer),
        ], watermarks: [1: 2, 2: 3]), section: customer)
        // A snapshot of partition 1 that no longer holds key [1]: the stale row goes in the same transaction.
        try store.commit(batch(2, [row([2], [20], version: 9, partition: 1, section: customer),
                                   row([4], [40], version: 9, partition: 1, section: customer)],
                               watermarks: [1: 9], replacing: [1]), section: customer)
        XCTAssertEqual(try store.rows(section: customer, partition: 1).map(\.key), [[2], [4]])
        XCTAssertEqual(try store.rows(section: customer, partition: 1).map(\.value), [[20], [40]])
        XCTAssertEqual(try store.rows(section: customer, partition: 2).map(\.value), [[3]])
        XCTAssertEqual(try store.watermarks(section: customer).mapValues(\.sequence), [1: 9, 2: 3])
        // An empty snapshot empties the partition.
        try store.commit(batch(3, [], watermarks: [2: 10], replacing: [2]), section: customer)
        XCTAssertEqual(try store.partitionsWithData(section: customer), [1])
        // A failing replacing batch removes nothing.
        let broken = batch(4, [row([5], [5], version: 11, partition: 1, section: customer),
                               row([6], [6], version: 12, partition: 1, section: "other")],
                           watermarks: [1: 12], replacing: [1])
        _ = assertStoreError(.badSection) { () throws(StoreError) in try store.commit(broken, section: customer) }
        XCTAssertEqual(try store.rows(section: customer, partition: 1).map(\.key), [[2], [4]])
        XCTAssertEqual(try store.watermarks(section: customer).mapValues(\.sequence), [1: 9, 2: 10])
    }

    // MARK: - Atomicity and failures

    func testBatchFailingMidwayLeavesNeitherRowsNorWatermarks() throws {
        let store = try PostgresStore(url: try serverURL())
        let customer = section("customer"), order = section("order")
        try store.commit(batch(1, [row([1], [1], version: 1, section: customer)], watermarks: [0: 1]), section: customer)
        // Valid rows first, then a row of another section: all undone.
        let broken = batch(2, [
            row([1], [2], version: 2, section: customer),
            row([2], [2], version: 3, section: customer),
            row([3], [3], version: 4, section: "Not A Section"),
        ], watermarks: [0: 4])
        _ = assertStoreError(.badSection) { () throws(StoreError) in try store.commit(broken, section: customer) }
        XCTAssertEqual(try store.watermarks(section: customer).mapValues(\.sequence), [0: 1])
        XCTAssertEqual(try store.rows(section: customer, partition: 0).map(\.value), [[1]])

        // The same on a section's first batch: its table is not left behind either.
        let first = batch(1, [row([1], [1], version: 1, section: order), row([2], [2], version: 2, section: customer)],
                          watermarks: [0: 2])
        _ = assertStoreError(.badSection) { () throws(StoreError) in try store.commit(first, section: order) }
        XCTAssertEqual(try store.count(section: order), 0)
        XCTAssertEqual(try store.watermarks(section: order).mapValues(\.sequence), [:])
        XCTAssertFalse(try tableExists(store, order))
        // And the section works afterwards (its table is created then).
        try store.commit(batch(2, [row([1], [1], version: 1, section: order)], watermarks: [0: 1]), section: order)
        XCTAssertEqual(try store.count(section: order), 1)
    }

    func testServerErrorInsideTheTransactionRollsBackAndTheStoreGoesOn() throws {
        let store = try PostgresStore(url: try serverURL())
        let customer = section("customer")
        try store.commit(batch(1, [row([1], [1], version: 1, section: customer)], watermarks: [0: 1]), section: customer)
        // The server refuses the batch part way (a constraint the store does not know of): the
        // replace and upsert before it are undone with it.
        let table = try sectionTable(for: customer)
        _ = try store.strings("ALTER TABLE \(table) ADD CONSTRAINT small CHECK (length(value) < 100)")
        let refused = batch(2, [row([2], [2], version: 2, section: customer),
                                row([3], [UInt8](repeating: 3, count: 200), version: 3, section: customer)],
                            watermarks: [0: 3], replacing: [0])
        let error = assertStoreError(.failed) { () throws(StoreError) in try store.commit(refused, section: customer) }
        XCTAssertTrue(error?.message.contains("SQLSTATE 23514") ?? false, "\(String(describing: error))")
        XCTAssertEqual(try store.rows(section: customer, partition: 0).map(\.value), [[1]])
        XCTAssertEqual(try store.watermarks(section: customer).mapValues(\.sequence), [0: 1])
        _ = try store.strings("ALTER TABLE \(table) DROP CONSTRAINT small")
        try store.commit(refused, section: customer)
        XCTAssertEqual(try store.rows(section: customer, partition: 0).map(\.key), [[2], [3]])
    }

    func testBadSectionIsRefusedAndCreatesNothing() throws {
        let store = try PostgresStore(url: try serverURL())
        let before = try store.strings("SELECT count(*)::text FROM pg_tables")
        let bad = ["", "Customer", "9lives", "a b", "x\"; DROP TABLE spacegrid_watermarks; --", "-a", "a.b",
                   String(repeating: "a", count: 33), "é"]
        for name in bad {
            let rows = [row([1], [1], version: 1, section: name)]
            _ = assertStoreError(.badSection) { () throws(StoreError) in try store.commit(batch(1, rows, watermarks: [0: 1]), section: name) }
            _ = assertStoreError(.badSection) { () throws(StoreError) in try store.watermarks(section: name) }
            _ = assertStoreError(.badSection) { () throws(StoreError) in try store.rows(section: name, partition: 0) }
            _ = assertStoreError(.badSection) { () throws(StoreError) in try store.count(section: name) }
            _ = assertStoreError(.badSection) { () throws(StoreError) in try store.partitionsWithData(section: name) }
            _ = assertStoreError(.badSection) { () throws(StoreError) in try store.scan(section: name, partitions: nil) { _, _, _, _ in } }
        }
        XCTAssertEqual(try store.strings("SELECT count(*)::text FROM pg_tables"), before)
        // Odd but valid names work (a keyword, the store's own table names).
        for name in [section("select"), section("spacegrid_watermarks"), section("a-b_c-9")] {
            try store.commit(batch(1, [row([1], [1], version: 1, section: name)], watermarks: [0: 1]), section: name)
            XCTAssertEqual(try store.count(section: name), 1)
        }
    }

    // MARK: - Scans

    func testScanWithAndWithoutPartitionFilterCrossesFetchChunks() throws {
        let store = try PostgresStore(url: try serverURL())
        let order = section("order")
        let total = PostgresStore.scanChunk * 2 + 123, partitions = 8
        var rows: [WriteBehindBuffer.Row] = []
        for index in 0..<total {
            rows.append(row(Array("order-\(index)".utf8), Array("v\(index)".utf8), version: UInt64(index + 1),
                            partition: index % partitions, section: order))
            if rows.count == 1_000 || index == total - 1 {
                try store.commit(batch(UInt64(index), rows, watermarks: [0: UInt64(index + 1)]), section: order)
                rows = []
            }
        }
        var seen: [Int: Int] = [:]
        var keys = Set<[UInt8]>()
        try store.scan(section: order, partitions: nil) { partition, key, value, version in
            seen[partition, default: 0] += 1
            keys.insert(key)
            let index = Int(String(decoding: key.dropFirst(6), as: UTF8.self))!
            XCTAssertEqual(partition, index % partitions)
            XCTAssertEqual(value, Array("v\(index)".utf8))
            XCTAssertEqual(version, UInt64(index + 1))
        }
        XCTAssertEqual(keys.count, total)
        XCTAssertEqual(seen.count, partitions)

        var filtered: [Int: Int] = [:]
        try store.scan(section: order, partitions: [1, 6, 42]) { partition, _, _, _ in filtered[partition, default: 0] += 1 }
        XCTAssertEqual(filtered, [1: seen[1]!, 6: seen[6]!])
        var none = 0
        try store.scan(section: order, partitions: []) { _, _, _, _ in none += 1 }
        XCTAssertEqual(none, 0)
        // The store is usable after a scan (its transaction ended).
        try store.commit(batch(99, [row([0], [0], version: 1, section: order)], watermarks: [0: 1]), section: order)
        XCTAssertEqual(try store.count(section: order), total + 1)
    }

    // MARK: - Connections

    func testBadURLGivesAClearErrorWithoutThePassword() throws {
        let cases: [(url: String, says: String)] = [
            ("mysql://u:s3cret@localhost/db", "scheme"),
            ("localhost:5432/db", "postgres://"),
            ("postgres://localhost:5432/db", "no user name"),
            ("postgres://:s3cret@localhost/db", "user name is empty"),
            ("postgres://u:s3cret@localhost:54x/db", "port"),
            ("postgres://u:s3cret@localhost:70000/db", "port"),
            ("postgres://u:s3cret@localhost", "database"),
            ("postgres://u:s3cret@localhost/", "database"),
            ("postgres://u:s3cret@/db", "host"),
            ("postgres://u:s3cret%zz@localhost/db", "password is not valid percent-encoding"),
            ("postgres://u:s3cret@localhost/db?sslmode=require", "not supported"),
            ("postgres://u:s3cret@[::1/db", "IPv6"),
        ]
        for (url, says) in cases {
            let error = assertStoreError(.failed) { () throws(StoreError) in try PostgresStore(url: url) }
            guard let error else { continue }
            XCTAssertTrue(error.message.contains("bad PostgreSQL URL"), error.message)
            XCTAssertTrue(error.message.contains(says), "'\(says)' not in: \(error.message)")
            XCTAssertFalse(error.message.contains("s3cret"), error.message)
        }
        let endpoint = try PostgresStore.Endpoint(parsing: "postgresql://us%40er:p%3As@ss/w@[::1]:6543/my%20db")
        XCTAssertEqual(endpoint.user, "us@er")
        XCTAssertEqual(endpoint.password, "p:s@ss/w")
        XCTAssertEqual(endpoint.host, "::1")
        XCTAssertEqual(endpoint.port, 6543)
        XCTAssertEqual(endpoint.database, "my db")
        XCTAssertEqual(endpoint.redacted, "postgres://us@er@[::1]:6543/my db")
        let plain = try PostgresStore.Endpoint(parsing: "postgres://spacegrid@127.0.0.1/spacegrid")
        XCTAssertEqual(plain.port, 5432)
        XCTAssertNil(plain.password)
    }

    func testConnectionRefusedIsUnreachable() throws {
        let port = try freePort()
        let error = assertStoreError(.unreachable) { () throws(StoreError) in
            try PostgresStore(url: "postgres://spacegrid:s3cret@127.0.0.1:\(port)/spacegrid", connectTimeout: 5)
        }
        XCTAssertFalse(error?.message.contains("s3cret") ?? true)
        XCTAssertTrue(error?.message.contains("127.0.0.1:\(port)") ?? false, "\(String(describing: error))")
    }

    func testUnknownDatabaseIsAClearFailure() throws {
        let url = try serverURL()
        let other = url.replacingOccurrences(of: #"/[^/]*$"#, with: "/no_such_database_\(tag)", options: .regularExpression)
        let error = assertStoreError(.failed) { () throws(StoreError) in try PostgresStore(url: other) }
        XCTAssertTrue(error?.message.contains("3D000") ?? false, "\(String(describing: error))")
    }

    func testSQLStatesMapToCodes() {
        XCTAssertEqual(StoreError.code(sqlState: "08006"), .unreachable)
        XCTAssertEqual(StoreError.code(sqlState: "57P01"), .unreachable)
        XCTAssertEqual(StoreError.code(sqlState: "53100"), .unwritable)
        XCTAssertEqual(StoreError.code(sqlState: "53200"), .unwritable)
        XCTAssertEqual(StoreError.code(sqlState: "25006"), .unwritable)
        XCTAssertEqual(StoreError.code(sqlState: "42501"), .unwritable)
        XCTAssertEqual(StoreError.code(sqlState: "XX001"), .corrupt)
        XCTAssertEqual(StoreError.code(sqlState: "XX002"), .corrupt)
        XCTAssertEqual(StoreError.code(sqlState: "XX000"), .failed)
        XCTAssertEqual(StoreError.code(sqlState: "57014"), .failed)
        XCTAssertEqual(StoreError.code(sqlState: "23505"), .failed)
    }

    func testServerGoneIsUnreachableAndTheSameStoreCommitsWhenItReturns() throws {
        let url = try serverURL()
        guard let data = ProcessInfo.processInfo.environment["SPACEGRID_POSTGRES_DATA"],
              ProcessInfo.processInfo.environment["SPACEGRID_POSTGRES_CTL"] != nil else {
            throw XCTSkip("needs SPACEGRID_POSTGRES_DATA and SPACEGRID_POSTGRES_CTL (printed by scripts/postgres start)")
        }
        let folder = URL(fileURLWithPath: data).deletingLastPathComponent().path
        let store = try PostgresStore(url: url, connectTimeout: 5)
        let customer = section("customer")
        try store.commit(batch(1, [row([1], [1], version: 1, section: customer)], watermarks: [0: 1]), section: customer)

        try postgres("pause", folder)
        var resumed = false
        defer { if !resumed { try? postgres("resume", folder) } }
        let next = batch(2, [row([2], [2], version: 2, section: customer)], watermarks: [0: 2])
        _ = assertStoreError(.unreachable) { () throws(StoreError) in try store.commit(next, section: customer) }
        // Still down: every call says so again, after trying to connect.
        _ = assertStoreError(.unreachable) { () throws(StoreError) in try store.commit(next, section: customer) }
        _ = assertStoreError(.unreachable) { () throws(StoreError) in try store.watermarks(section: customer) }

        try postgres("resume", folder)
        resumed = true
        try store.commit(next, section: customer)
        XCTAssertEqual(try store.watermarks(section: customer).mapValues(\.sequence), [0: 2])
        XCTAssertEqual(try store.rows(section: customer, partition: 0).map(\.value), [[1], [2]])

        // A restart between two calls is not even noticed: the next call connects again.
        try postgres("pause", folder)
        resumed = false
        try postgres("resume", folder)
        resumed = true
        try store.commit(batch(3, [row([3], [3], version: 3, section: customer)], watermarks: [0: 3]), section: customer)
        XCTAssertEqual(try store.count(section: customer), 3)
        XCTAssertEqual(try store.watermarks(section: customer).mapValues(\.sequence), [0: 3])
    }

    // MARK: - Migration

    func testAVersion1DatabaseIsRekeyedAndGetsEpochsAndSealsKeepingItsRows() throws {
        let url = try serverURL()
        // A schema of its own, laid out by hand as the first build left it: a key-only
        // primary key and a partition index per section table, watermarks without epochs.
        let schema = "spacegrid_v1_\(tag)"
        schemas.insert(schema)
        let admin = try PostgresStore(url: url)
        for sql in [
            "CREATE SCHEMA \(schema)",
            "CREATE TABLE \(schema).spacegrid_schema (version integer NOT NULL)",
            "INSERT INTO \(schema).spacegrid_schema (version) VALUES (1)",
            """
            CREATE TABLE \(schema).spacegrid_watermarks (section text NOT NULL, partition integer NOT NULL, sequence bigint NOT NULL,
                PRIMARY KEY (section, partition))
            """,
            "INSERT INTO \(schema).spacegrid_watermarks VALUES ('customer', 3, 7), ('customer', 4, -2), ('order-book', 0, 1)",
        ] {
            _ = try admin.strings(sql)
        }
        for table in ["section_customer", "section_order-book"] {
            _ = try admin.strings("""
                CREATE TABLE \(schema)."\(table)" (key bytea PRIMARY KEY, partition integer NOT NULL, value bytea NOT NULL,
                    version bigint NOT NULL, updated bigint NOT NULL)
                """)
            _ = try admin.strings("CREATE INDEX \"\(table)_partition\" ON \(schema).\"\(table)\" (partition)")
        }
        _ = try admin.strings("""
            INSERT INTO \(schema)."section_customer" VALUES
                (decode('61', 'hex'), 3, decode('31', 'hex'), 5, 0), (decode('62', 'hex'), 3, decode('32', 'hex'), 7, 0),
                (decode('63', 'hex'), 4, decode('33', 'hex'), 2, 0)
            """)
        _ = try admin.strings("INSERT INTO \(schema).\"section_order-book\" VALUES (decode('7a', 'hex'), 0, decode('39', 'hex'), 1, 0)")

        let store = try PostgresStore(url: url, searchPath: schema)
        XCTAssertEqual(try store.strings("SELECT max(version)::text FROM spacegrid_schema"), ["3"])
        // Old watermarks read as epoch 0, not sealed; sequences keep their bit pattern.
        XCTAssertEqual(try store.watermarks(section: "customer"), [3: stored(7, epoch: 0), 4: stored(UInt64.max - 1, epoch: 0)])
        XCTAssertEqual(try store.watermarks(section: "order-book"), [0: stored(1, epoch: 0)])
        XCTAssertEqual(try store.rows(section: "customer", partition: 3).map(\.key), [Array("a".utf8), Array("b".utf8)])
        XCTAssertEqual(try store.count(section: "customer"), 3)
        XCTAssertEqual(try store.rows(section: "order-book", partition: 0).map(\.value), [Array("9".utf8)])
        for table in ["section_customer", "section_order-book"] {
            XCTAssertEqual(try store.strings("""
                SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '"\(table)"'::regclass AND contype = 'p'
                """), ["PRIMARY KEY (partition, key)"], table)
        }
        XCTAssertEqual(try store.strings("SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() AND indexname LIKE '%_partition'"),
                       [], "the partition indexes are gone")
        // Writes go to the rekeyed table: updated in place, not added beside.
        try store.commit(batch(1, [row(Array("a".utf8), Array("9".utf8), version: 8, partition: 3, section: "customer"),
                                   row(Array("b".utf8), nil, version: 9, partition: 3, section: "customer")],
                               marks: [3: mark(9, epoch: 4)]), section: "customer")
        XCTAssertEqual(try store.rows(section: "customer", partition: 3).map(\.value), [Array("9".utf8)])
        XCTAssertEqual(try store.count(section: "customer"), 2)
        XCTAssertEqual(try store.seal(section: "customer", partitions: [3: 9, 4: UInt64.max - 1]), [3, 4])
        // Opening again migrates nothing more.
        let again = try PostgresStore(url: url, searchPath: schema)
        XCTAssertEqual(try again.strings("SELECT version::text FROM spacegrid_schema ORDER BY version"), ["1", "3"])
        XCTAssertEqual(try again.watermarks(section: "customer"),
                       [3: stored(9, epoch: 4, sealed: true), 4: stored(UInt64.max - 1, epoch: 0, sealed: true)])
        // A database written by a newer build is refused rather than misread.
        _ = try admin.strings("INSERT INTO \(schema).spacegrid_schema (version) VALUES (4)")
        let error = assertStoreError(.failed) { () throws(StoreError) in try PostgresStore(url: url, searchPath: schema) }
        XCTAssertTrue(error?.message.contains("version 4") ?? false, "\(String(describing: error))")
    }

    // MARK: - Throughput (by hand)

    /// Not an assertion on time: prints figures. Runs only with SPACEGRID_POSTGRES_BENCH=1.
    func testThroughputByHand() throws {
        let url = try serverURL()
        guard ProcessInfo.processInfo.environment["SPACEGRID_POSTGRES_BENCH"] == "1" else {
            throw XCTSkip("set SPACEGRID_POSTGRES_BENCH=1 to measure PostgresStore throughput")
        }
        let store = try PostgresStore(url: url)
        let customer = section("customer")
        let total = 200_000, batchSize = 1_000, partitions = 16
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
                                version: sequence, partition: partition, section: customer))
                watermarks[partition] = sequence
            }
            try store.commit(batch(UInt64(batchIndex + 1), rows, watermarks: watermarks), section: customer)
        }
        let writeSeconds = Date().timeIntervalSince(start)
        let scanStart = Date()
        var scanned = 0
        try store.scan(section: customer, partitions: nil) { _, _, _, _ in scanned += 1 }
        let scanSeconds = Date().timeIntervalSince(scanStart)
        XCTAssertEqual(scanned, total)
        print(String(format: "GridStore PostgreSQL: wrote %d rows in batches of %d in %.2f s (%.0f rows/s); scanned them in %.2f s (%.0f rows/s)",
                     total, batchSize, writeSeconds, Double(total) / writeSeconds, scanSeconds, Double(scanned) / scanSeconds))
    }

    // MARK: - Helpers

    /// A port nothing listens on (bound and released at once).
    private func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(fd, address, length) == 0 && getsockname(fd, address, &length) == 0
            }
        }
        XCTAssertTrue(bound)
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs `scripts/postgres ACTION FOLDER`, at most 60 s; its output goes to a file, not a
    /// pipe, so a server it starts cannot hold the reading end open.
    private func postgres(_ action: String, _ folder: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/postgres").path
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("postgres-\(action)-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let output = try FileHandle(forWritingTo: log)
        defer { try? output.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, action, folder]
        process.standardOutput = output
        process.standardError = output
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        try process.run()
        if done.wait(timeout: .now() + 60) == .timedOut {
            process.terminate()
            _ = done.wait(timeout: .now() + 10)
            XCTFail("scripts/postgres \(action) did not finish within 60 s", file: file, line: line)
            throw CocoaError(.executableLoad)
        }
        guard process.terminationStatus == 0 else {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            XCTFail("scripts/postgres \(action) failed (\(process.terminationStatus)): \(text)", file: file, line: line)
            throw CocoaError(.executableLoad)
        }
    }
}
