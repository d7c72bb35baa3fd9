import Foundation
import GridCore
import GRDB

/// How `SQLiteStore` writes a batch: in one IMMEDIATE transaction, with multi-row
/// statements instead of one statement per row.
///
/// 1. Rows are checked first: a row of another section fails the batch before anything
///    is written (and before a new section's table is created).
/// 2. Each key's last state in the batch is what is written: puts go in
///    `INSERT ... VALUES (...), (...) ON CONFLICT DO UPDATE` statements, deletes in
///    `DELETE ... WHERE (partition = ? AND key = ?) OR ...` statements (a row value
///    `IN (VALUES ...)` would scan the table), watermarks in multi-row upserts too (one
///    statement for the partitions a snapshot replaced, which take the batch's watermark
///    exactly, another for the rest, whose watermarks only rise). A key put and deleted
///    in one batch thus ends as the later of the two, whatever order the statements run in.
/// 3. Statements for a full chunk are prepared once per connection (GRDB's statement
///    cache); the rows that do not fill a chunk go through the one-row statements. A
///    multi-row statement keeps a statement journal, which the store holds in memory
///    (`temp_store = MEMORY`).
/// 4. The file's identity is checked before the commit (see `SQLiteStore`).
extension SQLiteStore {
    /// Rows per multi-row statement (upserts, deletes, watermarks). Measured on a table of
    /// a million rows, batches of 1,000 random keys: 32 rows took 15% less user CPU than
    /// one statement per row (128 no better than 32), a third less on a small table, and
    /// about a quarter less for deletes. Far below SQLite's limits: 4 variables per row
    /// plus one (32,766 since 3.32, 999 before), and one expression level per delete term (1,000).
    static let rowsPerStatement = 32

    public func commit(_ batch: WriteBehindBuffer.Batch, section: String) throws(StoreError) {
        let table = try sectionTable(for: section)
        if let stray = batch.rows.first(where: { $0.section != section }) {
            throw StoreError(.badSection, "a row of section '\(stray.section)' in a batch for '\(section)'")
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let createTable = !knownTables.contains(table)
        let (puts, deletes) = lastStates(batch.rows)
        let watermarks = batch.watermarks.sorted { $0.key < $1.key }
        let reset = watermarks.filter { batch.replacing.contains($0.key) }
        let raised = watermarks.filter { !batch.replacing.contains($0.key) }
        let unwatermarked = batch.replacing.filter { batch.watermarks[$0] == nil }.sorted()
        do {
            try queue.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    if createTable { try Self.createTable(table, db) }
                    // A snapshot replaces its partition: what it does not hold was deleted.
                    for partition in batch.replacing.sorted() {
                        try db.execute(sql: "DELETE FROM \(table) WHERE partition = ?", arguments: [partition])
                    }
                    try Self.upsert(puts, into: table, now: now, db)
                    try Self.delete(deletes, from: table, db)
                    try Self.store(raised, of: section, exactly: false, db)
                    try Self.store(reset, of: section, exactly: true, db)
                    for partition in unwatermarked {
                        try db.execute(sql: "UPDATE \(Self.watermarksTable) SET sealed = 0 WHERE section = ? AND partition = ?",
                                       arguments: [section, partition])
                    }
                    try self.refuseIfMoved()
                    return .commit
                }
            }
        } catch {
            throw StoreError(error, doing: "writing batch \(batch.id) of section '\(section)' to \(path)")
        }
        knownTables.insert(table)
    }

    public func seal(section: String, partitions: [Int: UInt64]) throws(StoreError) -> Set<Int> {
        _ = try sectionTable(for: section)
        guard !partitions.isEmpty else { return [] }
        do {
            return try queue.writeWithoutTransaction { db in
                var sealed: [Int] = []
                // IMMEDIATE: the comparison and the update see the same watermarks, with no
                // commit of another connection between them.
                try db.inTransaction(.immediate) {
                    let stored = try Self.watermarks(of: section, db)
                    sealed = partitions.filter { stored[$0.key]?.sequence == $0.value }.map(\.key).sorted()
                    try Self.inChunks(sealed, of: Self.rowsPerStatement, { count in
                        // ?1 is the section; each partition binds itself. A list of values is
                        // looked up in the primary key, one partition at a time.
                        let list = (0..<count).map { "?\(2 + $0)" }.joined(separator: ", ")
                        return try db.cachedStatement(sql: """
                            UPDATE \(Self.watermarksTable) SET sealed = 1 WHERE section = ?1 AND partition IN (\(list))
                            """)
                    }, first: [section]) { partition, arguments in
                        arguments.append(partition)
                    }
                    try self.refuseIfMoved()
                    return .commit
                }
                return Set(sealed)
            }
        } catch {
            throw StoreError(error, doing: "sealing \(partitions.count) partitions of section '\(section)' in \(path)")
        }
    }

    static func createTable(_ table: String, _ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS \(table) (
                partition INTEGER NOT NULL,
                key BLOB NOT NULL,
                value BLOB NOT NULL,
                version INTEGER NOT NULL,
                updated INTEGER NOT NULL,
                PRIMARY KEY (partition, key)
            ) WITHOUT ROWID
            """)
    }

    // MARK: - Statements

    private static func upsert(_ rows: [WriteBehindBuffer.Row], into table: String, now: Int64, _ db: Database) throws {
        try inChunks(rows, of: rowsPerStatement, { count in
            // ?1 is `now`; each row binds partition, key, value, version.
            let values = (0..<count).map { row in
                let first = 2 + 4 * row
                return "(?\(first), ?\(first + 1), ?\(first + 2), ?\(first + 3), ?1)"
            }
            return try db.cachedStatement(sql: """
                INSERT INTO \(table) (partition, key, value, version, updated) VALUES \(values.joined(separator: ", "))
                ON CONFLICT (partition, key) DO UPDATE SET value = excluded.value,
                    version = excluded.version, updated = excluded.updated
                """)
        }, first: [now]) { row, arguments in
            arguments.append(row.partition)
            arguments.append(Data(row.key))
            arguments.append(Data(row.value ?? []))
            arguments.append(Int64(bitPattern: row.version))
        }
    }

    private static func delete(_ rows: [WriteBehindBuffer.Row], from table: String, _ db: Database) throws {
        try inChunks(rows, of: rowsPerStatement, { count in
            let terms = (0..<count).map { _ in "(partition = ? AND key = ?)" }
            return try db.cachedStatement(sql: "DELETE FROM \(table) WHERE \(terms.joined(separator: " OR "))")
        }) { row, arguments in
            arguments.append(row.partition)
            arguments.append(Data(row.key))
        }
    }

    /// Stores watermarks unsealed: a commit changed the partition after any seal. With
    /// `exactly` (partitions a snapshot replaced) the batch's watermark is taken as it is;
    /// otherwise it never goes backwards (a replayed batch's lower sequence is ignored) and
    /// its epoch comes only with its sequence. Ties take the batch's, as the buffer does.
    private static func store(_ watermarks: [(key: Int, value: WriteBehindBuffer.Watermark)], of section: String,
                              exactly: Bool, _ db: Database) throws {
        // SQLite evaluates every SET expression on the row's old values, so the CASE sees
        // the sequence before `max` raises it.
        let update = exactly
            ? "sequence = excluded.sequence, epoch = excluded.epoch, sealed = 0"
            : """
              epoch = CASE WHEN excluded.sequence >= sequence THEN excluded.epoch ELSE epoch END,
                  sequence = max(sequence, excluded.sequence), sealed = 0
              """
        try inChunks(watermarks, of: rowsPerStatement, { count in
            // ?1 is the section; each watermark binds partition, sequence, epoch.
            let values = (0..<count).map { index in "(?1, ?\(2 + 3 * index), ?\(3 + 3 * index), ?\(4 + 3 * index), 0)" }
            return try db.cachedStatement(sql: """
                INSERT INTO \(watermarksTable) (section, partition, sequence, epoch, sealed) VALUES \(values.joined(separator: ", "))
                ON CONFLICT (section, partition) DO UPDATE SET \(update)
                """)
        }, first: [section]) { watermark, arguments in
            arguments.append(watermark.key)
            arguments.append(Int64(bitPattern: watermark.value.sequence))
            arguments.append(Int64(bitPattern: watermark.value.epoch))
        }
    }

    /// Runs `statement(size)` once per full chunk of `items`, then `statement(1)` per
    /// item left; `first` arguments come before each execution's items' own.
    private static func inChunks<Item>(_ items: [Item], of size: Int, _ statement: (Int) throws -> Statement,
                                       first: [(any DatabaseValueConvertible)?] = [],
                                       _ bind: (Item, inout [(any DatabaseValueConvertible)?]) -> Void) throws {
        var start = items.startIndex
        var arguments: [(any DatabaseValueConvertible)?] = []
        while start < items.endIndex {
            let count = items.endIndex - start >= size ? size : 1
            arguments.removeAll(keepingCapacity: true)
            arguments.append(contentsOf: first)
            for item in items[start..<(start + count)] { bind(item, &arguments) }
            try statement(count).execute(arguments: StatementArguments(arguments))
            start += count
        }
    }

    // MARK: - The file's identity

    /// Throws SQLITE_READONLY_DBMOVED when the path no longer names the file opened.
    func refuseIfMoved() throws {
        guard let identity, !identity.isStillAtItsPath else { return }
        throw DatabaseError(resultCode: .SQLITE_READONLY_DBMOVED,
                            message: "the database file was moved or deleted while open; nothing was written")
    }
}

/// Which file a path names (device and inode, as `stat` reports them), to notice when
/// the path later names another file or none, as SQLite's rollback journal does.
struct FileIdentity: Equatable {
    /// Absolute, as SQLite resolved it when opening: a later change of the working
    /// directory does not change which file it names.
    var path: String
    var device: UInt64
    var inode: UInt64

    /// nil when nothing is at `path`.
    init?(path: String) {
        self.path = URL(fileURLWithPath: path).standardizedFileURL.path
        var info = stat()
        guard stat(self.path, &info) == 0 else { return nil }
        device = UInt64(truncatingIfNeeded: info.st_dev)
        inode = UInt64(truncatingIfNeeded: info.st_ino)
    }

    var isStillAtItsPath: Bool { FileIdentity(path: path) == self }
}
