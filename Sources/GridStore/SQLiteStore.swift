import Foundation
import GridCore
import GRDB

/// The embedded write-behind backend: one SQLite file (DESIGN.md section 6).
///
/// Schema: the "v1" migration creates `spacegrid_watermarks(section, partition, sequence)`
/// and "v3" adds `epoch` and `sealed` to it (rows of older files read as epoch 0, not
/// sealed, so their next cold start jumps versions as it always did); each section gets
/// its own table, `section_<name>`, on its first commit (`partition, key, value, version,
/// updated` in unix ms, primary key `(partition, key)`).
/// The prefix keeps section names clear of SQLite's reserved `sqlite_` names and of the
/// store's own tables. A key lives in one partition (its hash decides), so the pair is
/// as unique as the key; leading with the partition makes a snapshot's replacement and
/// a partition's read a range of the one B-tree, with no second index to update on
/// every write (v1's key-only primary key plus a partition index halved the rows per
/// second on a table of a million rows: 18,600 against 37,900, measured with random keys;
/// the "v2" migration rebuilds such tables).
///
/// Over a GRDB `DatabaseQueue` (one connection), not a `DatabasePool`: there is one
/// writer on one thread and its own reads come between its writes, so a pool's
/// concurrent readers buy nothing.
///
/// Durability: when `commit` returns, the batch is on disk and survives a `kill -9`
/// and a power loss, as far as SQLite promises it with `synchronous = FULL`:
/// 1. WAL journal mode with `synchronous = FULL`, set by hand (GRDB's WAL set-up lowers
///    it to NORMAL, which may lose the last commits on a power loss). Each commit appends
///    its pages to the `-wal` file and fsyncs it; checkpoints copy them into the database
///    later, fsyncing both. The mode is stored in the file, so a file of the rollback
///    journal era switches when the store first opens it. A file that cannot switch
///    (read-only, or locked by another process beyond the busy timeout) keeps its rollback
///    journal, as durable and only slower; the next open tries again.
/// 2. A file moved or deleted under the open connection is refused before a commit
///    (`SQLITE_READONLY_DBMOVED`, `unwritable`): the rollback journal did that by itself,
///    WAL mode would go on appending to the lost file's `-wal` and report success.
/// 3. Another connection's write transaction is waited for up to `busyTimeout` seconds,
///    then the commit fails with SQLITE_BUSY (`unreachable`). Readers (a unit's cold
///    start) no longer block the writer, nor it them.
///
/// Why WAL: on a table of a million rows, batches of 1,000 random keys, the rollback
/// journal wrote each changed page to the journal and to the database with three fsyncs,
/// and created and deleted the journal, per commit; the mirror's CPU was mostly kernel time. With WAL, a 10,000-page
/// auto-checkpoint and multi-row statements (`SQLiteStore+Writes.swift`) the same
/// batches ran at about 60,000 rows/s instead of 38,000, with 30% less CPU per row.
/// WAL needs memory shared between the processes that open the file: keep the file on
/// a local file system (the run folder is).
///
/// Sequences, epochs and versions are stored as SQLite's signed 64-bit integers (bit
/// pattern); watermarks compare correctly up to 2^63 - 1.
public final class SQLiteStore: WriteBehindStore {
    public let path: String
    let queue: DatabaseQueue
    /// Tables known to exist (created or seen by a committed transaction).
    var knownTables: Set<String> = []
    /// The file opened, to notice when its path names another file or none.
    let identity: FileIdentity?

    public static let watermarksTable = "spacegrid_watermarks"

    /// Pages the `-wal` file may hold before a commit copies them into the database.
    /// SQLite's default, 1,000 pages (4 MB), is about one batch of random keys on a large
    /// table, so nearly every commit also checkpointed. Measured on that table in one
    /// series (a busier machine than the figures above): 1,000 pages 29,600 rows/s, 4,000
    /// 36,700, 10,000 45,000 (system CPU per row down by a third), 30,000 57,000 but with
    /// a 120 MB `-wal` file and longer pauses at each checkpoint.
    static let walAutocheckpointPages = 10_000
    /// The `-wal` file is cut back to this size when it restarts after a checkpoint (a
    /// snapshot's large batch grows it once; it does not keep that size).
    static let walSizeLimitBytes = 2 * walAutocheckpointPages * 4096

    /// Opens (or creates) the file at `path` and brings its schema up to date.
    public init(path: String, busyTimeout: TimeInterval = 5) throws(StoreError) {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.prepareDatabase { db in
            // 64 MB of page cache instead of SQLite's 2 MB: a section of a million rows is
            // about 70 MB, and batches of random keys otherwise read most pages from disk
            // again (measured: 11k to 19k rows/s with the default on a 1M-row table).
            try db.execute(sql: "PRAGMA cache_size = -65536")
            do {
                _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            } catch let error as DatabaseError where error.resultCode == .SQLITE_READONLY || error.resultCode == .SQLITE_BUSY {
                // Keeps the rollback journal this time (see the type's comment).
            }
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // A multi-row statement keeps a statement journal (to undo its own rows when it
            // fails midway); on disk, past 64 KB, it added a third to the bytes written per row.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.walAutocheckpointPages)")
            try db.execute(sql: "PRAGMA journal_size_limit = \(Self.walSizeLimitBytes)")
        }
        configuration.label = "GridStore"
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            identity = FileIdentity(path: path)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { db in
                try db.execute(sql: """
                    CREATE TABLE \(Self.watermarksTable) (
                        section TEXT NOT NULL,
                        partition INTEGER NOT NULL,
                        sequence INTEGER NOT NULL,
                        PRIMARY KEY (section, partition)
                    ) WITHOUT ROWID
                    """)
            }
            migrator.registerMigration("v2") { db in
                // v1 section tables: key-only primary key and a partition index.
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'section\\_%' ESCAPE '\\'")
                for name in tables {
                    let quoted = "\"\(name)\""
                    let rebuilt = "\"\(name)_v2\""
                    try Self.createTable(rebuilt, db)
                    try db.execute(sql: "INSERT INTO \(rebuilt) (partition, key, value, version, updated) SELECT partition, key, value, version, updated FROM \(quoted)")
                    try db.execute(sql: "DROP TABLE \(quoted)")
                    try db.execute(sql: "ALTER TABLE \(rebuilt) RENAME TO \(quoted)")
                }
            }
            migrator.registerMigration("v3") { db in
                // Constant defaults: SQLite adds the columns without rewriting the table.
                try db.execute(sql: "ALTER TABLE \(Self.watermarksTable) ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0")
                try db.execute(sql: "ALTER TABLE \(Self.watermarksTable) ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0")
            }
            try migrator.migrate(queue)
        } catch {
            throw StoreError(error, doing: "opening \(path)")
        }
    }

    // MARK: - Reads

    public func watermarks(section: String) throws(StoreError) -> [Int: StoredWatermark] {
        _ = try sectionTable(for: section)
        return try read("reading the watermarks of section '\(section)'") { db in
            try Self.watermarks(of: section, db)
        }
    }

    /// Also read inside `seal`'s transaction, to compare with what it was given.
    static func watermarks(of section: String, _ db: Database) throws -> [Int: StoredWatermark] {
        var result: [Int: StoredWatermark] = [:]
        let cursor = try Row.fetchCursor(db, sql: "SELECT partition, sequence, epoch, sealed FROM \(watermarksTable) WHERE section = ?",
                                         arguments: [section])
        while let row = try cursor.next() {
            result[row[0] as Int] = StoredWatermark(sequence: UInt64(bitPattern: row[1] as Int64),
                                                    epoch: UInt64(bitPattern: row[2] as Int64),
                                                    sealed: (row[3] as Int64) != 0)
        }
        return result
    }

    public func rows(section: String, partition: Int) throws(StoreError) -> [(key: [UInt8], value: [UInt8], version: UInt64)] {
        let table = try sectionTable(for: section)
        return try read("reading partition \(partition) of section '\(section)'") { db in
            guard try Self.exists(table, db) else { return [] }
            var result: [(key: [UInt8], value: [UInt8], version: UInt64)] = []
            let cursor = try Row.fetchCursor(db, sql: "SELECT key, value, version FROM \(table) WHERE partition = ? ORDER BY key",
                                             arguments: [partition])
            while let row = try cursor.next() {
                result.append((key: Array(row[0] as Data), value: Array(row[1] as Data),
                               version: UInt64(bitPattern: row[2] as Int64)))
            }
            return result
        }
    }

    public func scan(section: String, partitions: Set<Int>?,
                     _ each: (_ partition: Int, _ key: [UInt8], _ value: [UInt8], _ version: UInt64) -> Void) throws(StoreError) {
        let table = try sectionTable(for: section)
        try read("reading section '\(section)'") { db in
            guard try Self.exists(table, db) else { return }
            // One pass in storage order, filtered here: faster than an index lookup per
            // row when a unit loads a large share of the partitions.
            let statement = try db.makeStatement(sql: "SELECT partition, key, value, version FROM \(table)")
            let cursor = try Row.fetchCursor(statement)
            while let row = try cursor.next() {
                let partition: Int = row[0]
                if let partitions, !partitions.contains(partition) { continue }
                let key = try row.withUnsafeData(atIndex: 1) { data in data.map { Array($0) } ?? [] }
                let value = try row.withUnsafeData(atIndex: 2) { data in data.map { Array($0) } ?? [] }
                each(partition, key, value, UInt64(bitPattern: row[3] as Int64))
            }
        }
    }

    public func partitionsWithData(section: String) throws(StoreError) -> Set<Int> {
        let table = try sectionTable(for: section)
        return try read("reading the partitions of section '\(section)'") { db in
            guard try Self.exists(table, db) else { return [] }
            return Set(try Int.fetchAll(db, sql: "SELECT DISTINCT partition FROM \(table)"))
        }
    }

    public func count(section: String) throws(StoreError) -> Int {
        let table = try sectionTable(for: section)
        return try read("counting the rows of section '\(section)'") { db in
            guard try Self.exists(table, db) else { return 0 }
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0
        }
    }

    /// Reads create nothing: a section never committed has no table and reads as empty.
    private static func exists(_ quotedTable: String, _ db: Database) throws -> Bool {
        try db.tableExists(String(quotedTable.dropFirst().dropLast()))
    }

    private func read<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try queue.read(body)
        } catch {
            throw StoreError(error, doing: "\(what) from \(path)")
        }
    }

    // MARK: - Test hooks

    /// Caps the file at its current size (`nil` lifts the cap), so the next write that
    /// needs a new page fails with SQLITE_FULL: a full disk, as root can't fake one with chmod.
    func capFileSize(_ capped: Bool) throws {
        try queue.writeWithoutTransaction { db in
            if capped {
                let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
                try db.execute(sql: "PRAGMA max_page_count = \(pages)")
            } else {
                try db.execute(sql: "PRAGMA max_page_count = 4294967294")
            }
        }
    }

    /// The first column of a query's rows, as text.
    func strings(_ sql: String) throws -> [String] {
        try queue.read { db in try String.fetchAll(db, sql: sql) }
    }
}
