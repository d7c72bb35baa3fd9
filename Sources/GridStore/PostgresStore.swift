import Foundation
import GridCore
import Logging
import PostgresNIO

/// The write-behind backend on a PostgreSQL server (DESIGN.md section 6), for grids
/// whose data must outlive the machine the mirror runs on.
///
/// Schema: on open, migrations bring the database to `schemaVersion`, recorded in
/// `spacegrid_schema(version)`, with the same steps as `SQLiteStore`'s: version 1 creates
/// `spacegrid_watermarks(section, partition, sequence)`; version 2 gives the section
/// tables the primary key `(partition, key)` (version 1 had `key` alone plus an index on
/// `partition`: one index to update per write instead of two, and a partition's reads and
/// a snapshot's replacement still go through its leading column); version 3 adds `epoch`
/// and `sealed` to the watermarks (rows of older databases read as epoch 0, not sealed).
/// Each section gets its own table, `section_<name>`, on its first commit (`partition,
/// key, value, version, updated` in unix ms), as in `SQLiteStore`.
///
/// The protocol is synchronous and called from one thread that is not a Swift
/// concurrency pool thread, so the store owns a one-thread NIO event loop and one
/// `PostgresConnection`, and the calling thread blocks on each request's future, at
/// most `requestTimeout` seconds. A lost connection (server stopped, restarted,
/// network gone) fails the call in progress with `unreachable`; the next call connects
/// again, and the mirror's retry of the batch needs nothing more. Batches are
/// idempotent (upserts, watermarks that never go back or, for a snapshot's partitions,
/// are set to the same value again), so a retry after a COMMIT whose answer was lost is
/// harmless; so are seals.
///
/// A batch of a thousand rows is a handful of statements, not a thousand round trips:
/// the rows go as arrays and the server unnests them. The server's `fsync` and
/// `synchronous_commit` decide durability: when `commit` returns, the batch is as safe
/// as the server was told to keep it.
///
/// Sequences, epochs and versions are stored as signed 64-bit integers (bit pattern), as
/// in SQLite; watermarks compare correctly up to 2^63 - 1.
public final class PostgresStore: WriteBehindStore {
    /// The URL without its password, for messages.
    public let location: String
    private let configuration: PostgresConnection.Configuration
    private let connectTimeout: TimeInterval
    private let requestTimeout: TimeInterval
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    /// nil until the first call, and again after the connection was lost.
    private var connection: PostgresConnection?
    private var connections = 0
    /// Tables known to exist on the current connection (created or seen by a committed transaction).
    private var knownTables: Set<String> = []

    public static let watermarksTable = "spacegrid_watermarks"
    public static let schemaTable = "spacegrid_schema"
    /// The schema this build writes; a database at a higher version is refused.
    static let schemaVersion: Int32 = 3
    /// The advisory lock that serialises schema changes of stores sharing a database ("SPACEGRD").
    static let schemaLock: Int64 = 0x5350_4143_4547_5244

    /// Connects to `url` (`postgres://user[:password]@host[:port]/database`, percent-encoded,
    /// `postgresql://` too) and brings its schema up to date. TLS is not configured.
    ///
    /// - Parameters:
    ///   - connectTimeout: how long one connection attempt may take, in seconds.
    ///   - requestTimeout: how long one statement may wait for its answer before the
    ///     connection is dropped and the call fails with `unreachable`.
    ///   - logger: PostgresNIO's own logging (debug and trace); nothing is logged when nil.
    public convenience init(url: String, connectTimeout: TimeInterval = 10, requestTimeout: TimeInterval = 60,
                            logger: Logger? = nil) throws(StoreError) {
        try self.init(url: url, connectTimeout: connectTimeout, requestTimeout: requestTimeout, logger: logger, searchPath: nil)
    }

    /// `searchPath` (tests only) sets the connection's `search_path`, so a test can migrate
    /// a schema of its own without touching the database's other tables.
    init(url: String, connectTimeout: TimeInterval = 10, requestTimeout: TimeInterval = 60,
         logger: Logger? = nil, searchPath: String?) throws(StoreError) {
        let endpoint = try Endpoint(parsing: url)
        location = endpoint.redacted
        var configuration = PostgresConnection.Configuration(host: endpoint.host, port: endpoint.port, username: endpoint.user,
                                                             password: endpoint.password, database: endpoint.database, tls: .disable)
        configuration.options.connectTimeout = .milliseconds(Int64(connectTimeout * 1000))
        if let searchPath { configuration.options.additionalStartupParameters = [("search_path", searchPath)] }
        self.configuration = configuration
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.logger = logger ?? Logger(label: "GridStore.PostgresStore", factory: { _ in SwiftLogNoOpLogHandler() })
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // Every property is set: when this throws, deinit still shuts the event loop down.
        _ = try connected(doing: "opening")
    }

    deinit {
        if let connection {
            let closed: EventLoopFuture<Void> = connection.close()
            _ = try? wait(closed, timeout: 5)
        }
        try? group.syncShutdownGracefully()
    }


    // MARK: - Writes

    public func commit(_ batch: WriteBehindBuffer.Batch, section: String) throws(StoreError) {
        let table = try sectionTable(for: section)
        let columns = try BatchColumns(batch, section: section)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let createTable = !knownTables.contains(table)
        do {
            try inTransaction("writing batch \(batch.id) of section '\(section)' to") { connection in
                if createTable { try createTableIfNeeded(table, connection) }
                // A snapshot replaces its partitions: what it does not hold was deleted.
                if !columns.replacing.isEmpty {
                    try run("DELETE FROM \(table) WHERE partition = ANY($1::int[])", [columns.replacing], connection)
                }
                if !columns.upsertKeys.isEmpty {
                    try run("""
                        INSERT INTO \(table) (partition, key, value, version, updated)
                        SELECT partition, key, value, version, $5::bigint
                        FROM unnest($1::int[], $2::bytea[], $3::bytea[], $4::bigint[]) AS batch (partition, key, value, version)
                        ON CONFLICT (partition, key) DO UPDATE SET value = excluded.value,
                            version = excluded.version, updated = excluded.updated
                        """, [columns.upsertPartitions, columns.upsertKeys, columns.upsertValues, columns.upsertVersions, now], connection)
                }
                if !columns.deletePartitions.isEmpty {
                    try run("""
                        DELETE FROM \(table) AS stored USING unnest($1::int[], $2::bytea[]) AS batch (partition, key)
                        WHERE stored.partition = batch.partition AND stored.key = batch.key
                        """, [columns.deletePartitions, columns.deleteKeys], connection)
                }
                try storeWatermarks(columns.raised, of: section, exactly: false, connection)
                try storeWatermarks(columns.reset, of: section, exactly: true, connection)
                if !columns.unwatermarked.isEmpty {
                    try run("UPDATE \(Self.watermarksTable) SET sealed = false WHERE section = $1::text AND partition = ANY($2::int[])",
                            [section, columns.unwatermarked], connection)
                }
            }
        } catch {
            // The table may be gone with the connection (or never made it): check again next time.
            knownTables.remove(table)
            throw error
        }
        knownTables.insert(table)
    }

    /// Stores watermarks unsealed: a commit changed the partition after any seal. With
    /// `exactly` (partitions a snapshot replaced) the batch's watermark is taken as it is;
    /// otherwise it never goes backwards (a replayed batch's lower sequence is ignored) and
    /// its epoch comes only with its sequence. Ties take the batch's, as the buffer does.
    private func storeWatermarks(_ watermarks: WatermarkColumns, of section: String, exactly: Bool,
                                 _ connection: PostgresConnection) throws {
        guard !watermarks.partitions.isEmpty else { return }
        let stored = Self.watermarksTable
        // Every SET expression reads the row's old values, so the CASE sees the sequence
        // before GREATEST raises it.
        let update = exactly
            ? "sequence = excluded.sequence, epoch = excluded.epoch, sealed = false"
            : """
              epoch = CASE WHEN excluded.sequence >= \(stored).sequence THEN excluded.epoch ELSE \(stored).epoch END,
                  sequence = GREATEST(\(stored).sequence, excluded.sequence), sealed = false
              """
        try run("""
            INSERT INTO \(stored) (section, partition, sequence, epoch, sealed)
            SELECT $1::text, partition, sequence, epoch, false
            FROM unnest($2::int[], $3::bigint[], $4::bigint[]) AS batch (partition, sequence, epoch)
            ON CONFLICT (section, partition) DO UPDATE SET \(update)
            """, [section, watermarks.partitions, watermarks.sequences, watermarks.epochs], connection)
    }

    /// Watermarks as the columns the server unnests.
    private struct WatermarkColumns {
        var partitions: [Int32] = [], sequences: [Int64] = [], epochs: [Int64] = []

        mutating func append(_ partition: Int, _ watermark: WriteBehindBuffer.Watermark) throws(StoreError) {
            partitions.append(try PostgresStore.column(partition))
            sequences.append(Int64(bitPattern: watermark.sequence))
            epochs.append(Int64(bitPattern: watermark.epoch))
        }
    }

    /// The rows of one batch as the columns the server unnests. Built before anything is
    /// sent, so a stray row of another section leaves the database untouched.
    private struct BatchColumns {
        var upsertPartitions: [Int32] = [], upsertKeys: [ByteBuffer] = [], upsertValues: [ByteBuffer] = [], upsertVersions: [Int64] = []
        var deletePartitions: [Int32] = [], deleteKeys: [ByteBuffer] = []
        var replacing: [Int32] = []
        /// Watermarks that only rise, and those of replaced partitions, taken as they are.
        var raised = WatermarkColumns(), reset = WatermarkColumns()
        /// Replaced partitions the batch has no watermark for: only unsealed.
        var unwatermarked: [Int32] = []

        init(_ batch: WriteBehindBuffer.Batch, section: String) throws(StoreError) {
            if let stray = batch.rows.first(where: { $0.section != section }) {
                throw StoreError(.badSection, "a row of section '\(stray.section)' in a batch for '\(section)'")
            }
            let (puts, deletes) = lastStates(batch.rows)
            for row in puts {
                upsertPartitions.append(try PostgresStore.column(row.partition))
                upsertKeys.append(ByteBuffer(bytes: row.key))
                upsertValues.append(ByteBuffer(bytes: row.value ?? []))
                upsertVersions.append(Int64(bitPattern: row.version))
            }
            for row in deletes {
                deletePartitions.append(try PostgresStore.column(row.partition))
                deleteKeys.append(ByteBuffer(bytes: row.key))
            }
            replacing = try PostgresStore.columns(batch.replacing)
            for (partition, watermark) in batch.watermarks.sorted(by: { $0.key < $1.key }) {
                if batch.replacing.contains(partition) {
                    try reset.append(partition, watermark)
                } else {
                    try raised.append(partition, watermark)
                }
            }
            unwatermarked = try PostgresStore.columns(batch.replacing.filter { batch.watermarks[$0] == nil })
        }
    }

    public func seal(section: String, partitions: [Int: UInt64]) throws(StoreError) -> Set<Int> {
        _ = try sectionTable(for: section)
        guard !partitions.isEmpty else { return [] }
        var given: [Int32] = [], sequences: [Int64] = []
        for (partition, sequence) in partitions.sorted(by: { $0.key < $1.key }) {
            given.append(try Self.column(partition))
            sequences.append(Int64(bitPattern: sequence))
        }
        // One statement is one transaction: it compares and seals each row under the row's lock.
        return try withConnection("sealing \(partitions.count) partitions of section '\(section)' in") { connection in
            let rows = try run("""
                UPDATE \(Self.watermarksTable) AS stored SET sealed = true
                FROM unnest($2::int[], $3::bigint[]) AS given (partition, sequence)
                WHERE stored.section = $1::text AND stored.partition = given.partition AND stored.sequence = given.sequence
                RETURNING stored.partition
                """, [section, given, sequences], connection)
            return Set(try rows.map { Int(try $0.decode(Int32.self)) })
        }
    }

    /// A partition number as the `integer` column holds it.
    static func column(_ partition: Int) throws(StoreError) -> Int32 {
        guard let value = Int32(exactly: partition) else {
            throw StoreError(.failed, "partition \(partition) does not fit the 32-bit partition column")
        }
        return value
    }

    /// Partition numbers for an `integer[]` parameter, in order.
    static func columns(_ partitions: Set<Int>) throws(StoreError) -> [Int32] {
        var result: [Int32] = []
        result.reserveCapacity(partitions.count)
        for partition in partitions.sorted() { result.append(try column(partition)) }
        return result
    }

    /// The layout of schema version 2 (see the type's comment).
    private func createTableIfNeeded(_ table: String, _ connection: PostgresConnection) throws {
        // Another store creating the same table at once would make IF NOT EXISTS fail on the catalog.
        try run("SELECT pg_advisory_xact_lock($1::bigint)", [Self.schemaLock], connection)
        try run("""
            CREATE TABLE IF NOT EXISTS \(table) (
                partition integer NOT NULL,
                key bytea NOT NULL,
                value bytea NOT NULL,
                version bigint NOT NULL,
                updated bigint NOT NULL,
                PRIMARY KEY (partition, key)
            )
            """, [], connection)
    }

    // MARK: - Reads

    public func watermarks(section: String) throws(StoreError) -> [Int: StoredWatermark] {
        _ = try sectionTable(for: section)
        return try withConnection("reading the watermarks of section '\(section)' from") { connection in
            var result: [Int: StoredWatermark] = [:]
            let rows = try run("SELECT partition, sequence, epoch, sealed FROM \(Self.watermarksTable) WHERE section = $1::text",
                               [section], connection)
            for row in rows {
                let (partition, sequence, epoch, sealed) = try row.decode((Int32, Int64, Int64, Bool).self)
                result[Int(partition)] = StoredWatermark(sequence: UInt64(bitPattern: sequence), epoch: UInt64(bitPattern: epoch),
                                                         sealed: sealed)
            }
            return result
        }
    }

    public func rows(section: String, partition: Int) throws(StoreError) -> [(key: [UInt8], value: [UInt8], version: UInt64)] {
        let table = try sectionTable(for: section)
        let wanted = try Self.column(partition)
        return try withConnection("reading partition \(partition) of section '\(section)' from") { connection in
            guard try exists(table, connection) else { return [] }
            // bytea compares byte by byte: the same key order as SQLite's BLOBs.
            let rows = try run("SELECT key, value, version FROM \(table) WHERE partition = $1::int ORDER BY key", [wanted], connection)
            return try rows.map { row in
                let (key, value, version) = try row.decode((ByteBuffer, ByteBuffer, Int64).self)
                return (key: Array(key.readableBytesView), value: Array(value.readableBytesView), version: UInt64(bitPattern: version))
            }
        }
    }

    /// How many rows one FETCH brings: bounds the memory a scan holds, whatever the section's size.
    static let scanChunk = 5_000

    public func scan(section: String, partitions: Set<Int>?,
                     _ each: (_ partition: Int, _ key: [UInt8], _ value: [UInt8], _ version: UInt64) -> Void) throws(StoreError) {
        let table = try sectionTable(for: section)
        var wanted: [Int32]?
        if let partitions {
            if partitions.isEmpty { return }
            wanted = try Self.columns(partitions)
        }
        // One pass through a server-side cursor, in chunks, inside one read-only snapshot.
        // `each` runs on the calling thread between fetches, inside that transaction: it
        // must not call the store.
        try inTransaction("reading section '\(section)' from", begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") { connection in
            guard try exists(table, connection) else { return }
            let select = "SELECT partition, key, value, version FROM \(table)"
            if let wanted {
                try run("DECLARE spacegrid_scan NO SCROLL CURSOR FOR \(select) WHERE partition = ANY($1::int[])", [wanted], connection)
            } else {
                try run("DECLARE spacegrid_scan NO SCROLL CURSOR FOR \(select)", [], connection)
            }
            while true {
                let rows = try run("FETCH FORWARD \(Self.scanChunk) FROM spacegrid_scan", [], connection)
                for row in rows {
                    let (partition, key, value, version) = try row.decode((Int32, ByteBuffer, ByteBuffer, Int64).self)
                    each(Int(partition), Array(key.readableBytesView), Array(value.readableBytesView), UInt64(bitPattern: version))
                }
                if rows.count < Self.scanChunk { break }
            }
        }
    }

    public func partitionsWithData(section: String) throws(StoreError) -> Set<Int> {
        let table = try sectionTable(for: section)
        return try withConnection("reading the partitions of section '\(section)' from") { connection in
            guard try exists(table, connection) else { return [] }
            return Set(try run("SELECT DISTINCT partition FROM \(table)", [], connection).map { Int(try $0.decode(Int32.self)) })
        }
    }

    public func count(section: String) throws(StoreError) -> Int {
        let table = try sectionTable(for: section)
        return try withConnection("counting the rows of section '\(section)' in") { connection in
            guard try exists(table, connection) else { return 0 }
            return Int(try run("SELECT count(*) FROM \(table)", [], connection).first?.decode(Int64.self) ?? 0)
        }
    }

    /// Reads create nothing: a section never committed has no table and reads as empty.
    private func exists(_ quotedTable: String, _ connection: PostgresConnection) throws -> Bool {
        let name = String(quotedTable.dropFirst().dropLast())
        let rows = try run("SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = $1::text",
                           [name], connection)
        return !rows.isEmpty
    }
}

// MARK: - Test hooks

extension PostgresStore {
    /// The first column of a statement's rows, as text (cast in the SQL: `SELECT x::text`).
    func strings(_ sql: String) throws(StoreError) -> [String] {
        try withConnection("running a test statement on") { connection in
            try run(sql, [], connection).map { try $0.decode(String?.self) ?? "" }
        }
    }
}

// MARK: - Connection

extension PostgresStore {
    /// The open connection, or a new one (schema brought up to date) when there is none or it was lost.
    private func connected(doing what: String) throws(StoreError) -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        drop()
        connections += 1
        let future = PostgresConnection.connect(on: group.next(), configuration: configuration, id: connections, logger: logger)
        do {
            let connection = try wait(future, timeout: connectTimeout + 1)
            self.connection = connection
            knownTables = []
            try migrate(connection)
            return connection
        } catch {
            // One that answers after we gave up is closed at once.
            future.whenSuccess { connection in let _: EventLoopFuture<Void> = connection.close() }
            drop()
            throw StoreError(postgres: error, doing: "\(what) \(location)")
        }
    }

    /// Forgets the connection (closing it if it is still open): the next call connects again.
    private func drop() {
        if let connection { let _: EventLoopFuture<Void> = connection.close() }
        connection = nil
    }

    /// Creates or upgrades the schema in one transaction, one step per version above the
    /// database's (see the type's comment); a database written by a newer build is refused
    /// rather than misread. Stores of an older build refuse the upgraded database in turn,
    /// so a grid's mirror and units must run the same build.
    private func migrate(_ connection: PostgresConnection) throws {
        try run("BEGIN", [], connection)
        do {
            try run("SELECT pg_advisory_xact_lock($1::bigint)", [Self.schemaLock], connection)
            try run("CREATE TABLE IF NOT EXISTS \(Self.schemaTable) (version integer NOT NULL)", [], connection)
            let found = try run("SELECT max(version) FROM \(Self.schemaTable)", [], connection).first?.decode(Int32?.self) ?? nil
            let version = found ?? 0
            guard version <= Self.schemaVersion else {
                throw StoreError(.failed, "the database's schema is version \(version); this build knows up to version \(Self.schemaVersion)")
            }
            if version < 1 {
                try run("""
                    CREATE TABLE \(Self.watermarksTable) (
                        section text NOT NULL,
                        partition integer NOT NULL,
                        sequence bigint NOT NULL,
                        PRIMARY KEY (section, partition)
                    )
                    """, [], connection)
            }
            if version < 2 {
                try rekeySectionTables(connection)
            }
            if version < 3 {
                // Constant defaults: the server adds the columns without rewriting the table.
                try run("""
                    ALTER TABLE \(Self.watermarksTable) ADD COLUMN epoch bigint NOT NULL DEFAULT 0,
                        ADD COLUMN sealed boolean NOT NULL DEFAULT false
                    """, [], connection)
            }
            if version < Self.schemaVersion {
                try run("INSERT INTO \(Self.schemaTable) (version) VALUES ($1::integer)", [Self.schemaVersion], connection)
            }
            try run("COMMIT", [], connection)
        } catch {
            rollback(connection)
            throw error
        }
    }

    /// Version 2: every section table of version 1 (`key` primary key, `<table>_partition`
    /// index) gets the primary key `(partition, key)` in place. The rows stay where they
    /// are; only the index is built anew (a key lives in one partition, so the pair is as
    /// unique as the key was).
    private func rekeySectionTables(_ connection: PostgresConnection) throws {
        let tables = try run("""
            SELECT tablename::text FROM pg_catalog.pg_tables
            WHERE schemaname = current_schema() AND tablename LIKE 'section\\_%'
            """, [], connection).map { try $0.decode(String.self) }
        for name in tables {
            let keys = try run("""
                SELECT constraints.conname::text FROM pg_catalog.pg_constraint AS constraints
                JOIN pg_catalog.pg_class AS tables ON tables.oid = constraints.conrelid
                JOIN pg_catalog.pg_namespace AS schemas ON schemas.oid = tables.relnamespace
                WHERE schemas.nspname = current_schema() AND tables.relname = $1::text AND constraints.contype = 'p'
                """, [name], connection).map { try $0.decode(String.self) }
            let drop = keys.map { "DROP CONSTRAINT \(Self.quoted($0)), " }.joined()
            try run("ALTER TABLE \(Self.quoted(name)) \(drop)ADD PRIMARY KEY (partition, key)", [], connection)
            try run("DROP INDEX IF EXISTS \(Self.quoted(name + "_partition"))", [], connection)
        }
    }

    /// An identifier read from the catalog, quoted for SQL.
    private static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Runs `body` on the connection; a lost connection is dropped, to be made again by the next call.
    func withConnection<T>(_ what: String, _ body: (PostgresConnection) throws -> T) throws(StoreError) -> T {
        let connection = try connected(doing: what)
        do {
            return try body(connection)
        } catch {
            let mapped = StoreError(postgres: error, doing: "\(what) \(location)")
            if mapped.code == .unreachable || connection.isClosed { drop() }
            throw mapped
        }
    }

    /// Runs `body` between `begin` and COMMIT; any error rolls back.
    func inTransaction<T>(_ what: String, begin: String = "BEGIN",
                          _ body: (PostgresConnection) throws -> T) throws(StoreError) -> T {
        try withConnection(what) { connection in
            try run(begin, [], connection)
            do {
                let result = try body(connection)
                try run("COMMIT", [], connection)
                return result
            } catch {
                rollback(connection)
                throw error
            }
        }
    }

    /// Its own failure is not the caller's concern: a connection that cannot roll back is dropped.
    private func rollback(_ connection: PostgresConnection) {
        guard !connection.isClosed else { return }
        do {
            try run("ROLLBACK", [], connection)
        } catch {
            drop()
        }
    }

    /// One statement with its parameters ($1, $2, ...), all rows collected.
    @discardableResult
    func run(_ sql: String, _ parameters: [any PostgresDynamicTypeEncodable],
             _ connection: PostgresConnection) throws -> PostgresQueryResult {
        var bindings = PostgresBindings(capacity: parameters.count)
        for parameter in parameters { bindings.append(parameter) }
        return try wait(connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger), timeout: requestTimeout)
    }

    /// Blocks the calling thread (never an event loop's, never a pool thread) until
    /// `future` completes, at most `timeout` seconds.
    private func wait<Value: Sendable>(_ future: EventLoopFuture<Value>, timeout: TimeInterval) throws -> Value {
        let done = DispatchSemaphore(value: 0)
        future.whenComplete { _ in done.signal() }
        guard done.wait(timeout: .now() + timeout) == .success else {
            drop() // fails whatever is still pending on it
            throw NoAnswer(seconds: timeout)
        }
        return try future.wait()
    }

    /// The server did not answer in time: treated as a lost connection.
    struct NoAnswer: Error, CustomStringConvertible {
        var seconds: TimeInterval
        var description: String { "no answer within \(seconds) s" }
    }
}

// MARK: - URL

extension PostgresStore {
    /// Where to connect, parsed from `postgres://user[:password]@host[:port]/database`.
    struct Endpoint: Equatable {
        var user: String
        var password: String?
        var host: String
        var port: Int
        var database: String

        /// The URL without the password, for messages.
        var redacted: String {
            let host = self.host.contains(":") ? "[\(self.host)]" : self.host
            return "postgres://\(user)@\(host):\(port)/\(database)"
        }

        init(parsing url: String) throws(StoreError) {
            // Messages name the part that is wrong and never repeat the URL: it may hold a password.
            func bad(_ why: String) -> StoreError {
                StoreError(.failed, "bad PostgreSQL URL: \(why) (expected postgres://user[:password]@host[:port]/database)")
            }
            guard let schemeEnd = url.range(of: "://") else { throw bad("it does not start with postgres://") }
            let scheme = url[..<schemeEnd.lowerBound].lowercased()
            guard scheme == "postgres" || scheme == "postgresql" else {
                throw bad("the scheme is '\(scheme.prefix(20))', not postgres or postgresql")
            }
            let rest = url[schemeEnd.upperBound...]
            // The last '@' ends the user part: a password may hold an unencoded '@', '/' or '?'.
            guard let at = rest.lastIndex(of: "@") else { throw bad("there is no user name") }
            let userInfo = rest[..<at]
            let hostAndPath = rest[rest.index(after: at)...]
            let (rawUser, rawPassword) = userInfo.firstIndex(of: ":").map { colon in
                (userInfo[..<colon], Optional(userInfo[userInfo.index(after: colon)...]))
            } ?? (userInfo, nil)
            guard let user = rawUser.removingPercentEncoding else { throw bad("the user name is not valid percent-encoding") }
            guard !user.isEmpty else { throw bad("the user name is empty") }
            self.user = user
            if let rawPassword {
                guard let password = rawPassword.removingPercentEncoding else {
                    throw bad("the password is not valid percent-encoding")
                }
                self.password = password
            } else {
                password = nil
            }

            guard let slash = hostAndPath.firstIndex(of: "/") else { throw bad("there is no database name after the host") }
            let hostAndPort = hostAndPath[..<slash]
            let path = hostAndPath[hostAndPath.index(after: slash)...]
            guard !path.contains("?"), !path.contains("#") else {
                throw bad("parameters after the database name (?...) are not supported")
            }
            guard let database = path.removingPercentEncoding else { throw bad("the database name is not valid percent-encoding") }
            guard !database.isEmpty else { throw bad("there is no database name after the host") }
            self.database = database

            var rawHost = hostAndPort
            var rawPort: Substring?
            if hostAndPort.hasPrefix("[") {
                // An IPv6 address: [::1]:5432
                guard let close = hostAndPort.firstIndex(of: "]") else { throw bad("the IPv6 address has no closing ']'") }
                rawHost = hostAndPort[hostAndPort.index(after: hostAndPort.startIndex)..<close]
                let after = hostAndPort[hostAndPort.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":") else { throw bad("unexpected '\(after.prefix(20))' after the IPv6 address") }
                    rawPort = after.dropFirst()
                }
            } else if let colon = hostAndPort.lastIndex(of: ":") {
                rawHost = hostAndPort[..<colon]
                rawPort = hostAndPort[hostAndPort.index(after: colon)...]
            }
            guard let host = rawHost.removingPercentEncoding, !host.isEmpty else { throw bad("the host is empty or not valid") }
            self.host = host
            if let rawPort {
                guard let port = Int(rawPort), (1...65_535).contains(port) else {
                    throw bad("the port '\(rawPort.prefix(20))' is not a number from 1 to 65535")
                }
                self.port = port
            } else {
                port = 5432
            }
        }
    }
}

// MARK: - Errors

extension StoreError {
    /// Maps an error of PostgresNIO (a server's SQLSTATE, or a connection failure) to a stable code.
    init(postgres error: any Error, doing what: String) {
        if let store = error as? StoreError {
            self = store
            return
        }
        if let timeout = error as? PostgresStore.NoAnswer {
            self.init(.unreachable, "\(what): \(timeout)")
            return
        }
        guard let psql = error as? PSQLError else {
            // Decoding errors and the like; PostgresNIO's descriptions hide nothing sensitive here.
            self.init(.failed, "\(what): \(String(reflecting: error))")
            return
        }
        switch psql.code {
        case .server:
            let state = psql.serverInfo?[.sqlState] ?? "?????"
            let message = psql.serverInfo?[.message] ?? "server error"
            self.init(Self.code(sqlState: state), "\(what): \(message) (SQLSTATE \(state))")
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown:
            let cause = psql.underlying.map { ": \($0)" } ?? ""
            self.init(.unreachable, "\(what): \(psql.code)\(cause)")
        default:
            // Authentication and protocol problems: a person has to look (the password is never in them).
            self.init(.failed, "\(what): \(psql.code)")
        }
    }

    /// Classes 08 (connection) and 57P (server shutting down) come and go; 53 (out of disk
    /// or memory), read-only transactions and missing privileges refuse writes; XX001 and
    /// XX002 are damaged data.
    static func code(sqlState: String) -> Code {
        switch sqlState {
        case _ where sqlState.hasPrefix("08"), _ where sqlState.hasPrefix("57P"):
            return .unreachable
        case _ where sqlState.hasPrefix("53"), "25006", "42501":
            return .unwritable
        case "XX001", "XX002":
            return .corrupt
        default:
            return .failed
        }
    }
}
