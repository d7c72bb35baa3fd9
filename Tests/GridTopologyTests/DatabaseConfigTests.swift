import GridTopology
import XCTest

/// The optional `database` section (the write-behind target): defaults, every
/// field, every problem at its line and column, and the value API (the SQLite
/// file's path, the PostgreSQL URL from the environment, the printable summary).
final class DatabaseConfigTests: XCTestCase {
    /// A valid topology without a database; `database:` goes on line 8.
    static let head = """
        grid: trading
        broker:
          clients: tcp://127.0.0.1:5570
          units: tcp://127.0.0.1:5571
          events: tcp://127.0.0.1:5572
        sections:
          customer: {units: 2}

        """

    /// A topology whose `database` mapping has `lines` as its body (each indented 2 spaces, from line 9).
    func database(_ lines: String...) -> String {
        Self.head + "database:\n" + lines.map { "  " + $0 + "\n" }.joined()
    }

    func decodedDatabase(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) throws -> DatabaseConfig {
        try XCTUnwrap(Topology.decode(yaml: yaml).database, file: file, line: line)
    }

    // MARK: - Valid sections

    func testWithoutADatabaseThereIsNoWriteBehind() throws {
        XCTAssertNil(try Topology.decode(yaml: Self.head).database)
    }

    func testEmptyMappingIsSQLiteWithEveryDefault() throws {
        let database = try decodedDatabase(Self.head + "database: {}\n")
        XCTAssertEqual(database, DatabaseConfig())
        XCTAssertEqual(database.backend, .sqlite)
        XCTAssertNil(database.path)
        XCTAssertNil(database.url)
        XCTAssertNil(database.urlEnvironment)
        XCTAssertEqual(database.batch, 1000)
        XCTAssertEqual(database.maxDelayMilliseconds, 100)
    }

    func testEverySQLiteFieldIsRead() throws {
        let database = try decodedDatabase(self.database(
            "backend: sqlite", "path: data/trading.sqlite", "batch: 100000", "max_delay: 60s"))
        XCTAssertEqual(database, DatabaseConfig(
            backend: .sqlite, path: "data/trading.sqlite", batch: 100_000, maxDelayMilliseconds: 60_000))
        let smallest = try decodedDatabase(self.database("path: /var/lib/t.db", "batch: 1", "max_delay: 1ms"))
        XCTAssertEqual(smallest, DatabaseConfig(path: "/var/lib/t.db", batch: 1, maxDelayMilliseconds: 1))
    }

    func testPostgresWithAURL() throws {
        let database = try decodedDatabase(self.database(
            "backend: postgres", "url: postgres://spacegrid@127.0.0.1:5432/spacegrid", "batch: 500",
            "max_delay: 250ms"))
        XCTAssertEqual(database, DatabaseConfig(
            backend: .postgres, url: "postgres://spacegrid@127.0.0.1:5432/spacegrid", batch: 500,
            maxDelayMilliseconds: 250))
        let long = try decodedDatabase(self.database("backend: postgres", "url: postgresql://db.example/grid"))
        XCTAssertEqual(long.url, "postgresql://db.example/grid")
    }

    func testPostgresWithAURLEnvironmentVariable() throws {
        let database = try decodedDatabase(self.database("backend: postgres", "url_env: SPACEGRID_DATABASE_URL"))
        XCTAssertEqual(database, DatabaseConfig(backend: .postgres, urlEnvironment: "SPACEGRID_DATABASE_URL"))
        XCTAssertEqual(try decodedDatabase(self.database("backend: postgres", "url_env: _db2")).urlEnvironment, "_db2")
    }

    func testDatabaseMayComeAnywhereInTheRoot() throws {
        let topology = try Topology.decode(yaml: """
            grid: trading
            database: {backend: postgres, url_env: PG}
            broker: {clients: "inproc://c", units: "inproc://u", events: "inproc://e"}
            sections: {kv: {units: 1}}
            """)
        XCTAssertEqual(topology.database?.urlEnvironment, "PG")
    }

    func testRewritingKeepsTheDatabase() throws {
        let topology = try Topology.decode(yaml: database("path: t.sqlite"))
        let moved = topology.rewriting(clients: "inproc://c", units: "inproc://u", events: "inproc://e")
        XCTAssertEqual(moved.database, DatabaseConfig(path: "t.sqlite"))
    }

    func testHandBuiltTopologyHasNoDatabaseByDefault() {
        let broker = BrokerConfig(clients: "inproc://c", units: "inproc://u", events: "inproc://e")
        XCTAssertNil(Topology(grid: "t", broker: broker, sections: []).database)
        XCTAssertEqual(
            Topology(grid: "t", broker: broker, sections: [], database: DatabaseConfig()).database?.backend, .sqlite)
    }

    func testTradingFilesPostgresAlternativeDecodesOnceUncommented() throws {
        // The commented lines in topologies/trading.yaml are meant to be uncommented as they stand.
        let path = TopologyFilesTests.topologiesDirectory.appendingPathComponent("trading.yaml").path
        let lines = try String(contentsOfFile: path, encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
        func edited(keeping key: String) -> String {
            lines.compactMap { line -> String? in
                if line.hasPrefix("  backend: sqlite") || line.hasPrefix("  path: ") { return nil }
                if line.hasPrefix("  # backend: ") || line.hasPrefix("  # \(key): ") {
                    return "  " + line.dropFirst(4)
                }
                return String(line)
            }.joined(separator: "\n")
        }
        let fromEnvironment = try decodedDatabase(edited(keeping: "url_env"))
        XCTAssertEqual(fromEnvironment, DatabaseConfig(backend: .postgres, urlEnvironment: "SPACEGRID_DATABASE_URL"))
        let direct = try decodedDatabase(edited(keeping: "url"))
        XCTAssertEqual(direct, DatabaseConfig(backend: .postgres, url: "postgres://spacegrid@127.0.0.1:5432/spacegrid"))
    }

    // MARK: - Problems

    func testDatabaseMustBeAMapping() {
        assertProblem(Self.head + "database: sqlite\n", at: 8, 11,
                      "database must be a mapping of keys to values, got 'sqlite'")
        assertProblem(Self.head + "database: [sqlite]\n", at: 8, 11, "database must be a mapping", "a list")
        assertProblem(Self.head + "database:\n", at: 8, 10, "database must be a mapping", "got nothing",
                      "write 'database: {}' for SQLite with every default")
    }

    func testUnknownKeySuggestsTheClosest() {
        assertProblem(database("backend: sqlite", "max_dealy: 50ms"), at: 10, 3,
                      "unknown key 'max_dealy' in database",
                      "allowed keys: backend, path, url, url_env, batch, max_delay",
                      "did you mean 'max_delay'?")
        assertProblem(database("urlenv: X"), at: 9, 3, "unknown key 'urlenv' in database", "did you mean 'url_env'?")
    }

    func testMisspeltDatabaseKeyAtTheRoot() {
        assertProblem(Self.head + "databse:\n  path: t.sqlite\n", at: 8, 1,
                      "unknown key 'databse' in the topology", "did you mean 'database'?")
    }

    func testUnknownBackend() {
        assertProblem(database("backend: postgresql"), at: 9, 12,
                      "database: backend must be 'sqlite' or 'postgres', got 'postgresql'", "did you mean 'postgres'?")
        assertProblem(database("backend: mysql"), at: 9, 12, "backend must be 'sqlite' or 'postgres', got 'mysql'")
    }

    func testUnknownBackendStillChecksEachValue() {
        let found = problems(in: database("backend: oracle", "url: mysql://x", "url_env: 1X", "path: ''",
                                          "batch: 0"))
        XCTAssertEqual(found.map(\.line), [9, 10, 11, 12, 13], found.map(\.description).joined(separator: "\n"))
        XCTAssertTrue(found[0].message.contains("backend must be"))
        XCTAssertTrue(found[1].message.contains("url must start with postgres://"))
        XCTAssertTrue(found[2].message.contains("url_env must be the name of an environment variable"))
        XCTAssertTrue(found[3].message.contains("path must not be empty"))
        XCTAssertTrue(found[4].message.contains("batch must be between 1 and 100000"))
    }

    func testPathWithPostgres() {
        assertProblem(database("backend: postgres", "path: t.sqlite", "url_env: PG"), at: 10, 3,
                      "database: path is only allowed with 'backend: sqlite'")
    }

    func testURLKeysWithSQLite() {
        assertProblem(database("backend: sqlite", "url: postgres://h/db"), at: 10, 3,
                      "database: url is only allowed with 'backend: postgres'", "this database uses sqlite,")
        assertProblem(database("url_env: PG"), at: 9, 3,
                      "database: url_env is only allowed with 'backend: postgres'",
                      "this database uses sqlite (the default backend)")
        let found = problems(in: database("path: t.sqlite", "url: postgres://h/db", "url_env: PG"))
        XCTAssertEqual(found.map(\.line), [10, 11], found.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(found.map(\.column), [3, 3])
    }

    func testPostgresNeedsAURLOrAVariable() {
        assertProblem(database("backend: postgres", "batch: 10"), at: 9, 3,
                      "database is missing the required key 'url' or 'url_env'")
    }

    func testPostgresWithBothURLAndVariable() {
        assertProblem(database("backend: postgres", "url: postgres://h/db", "url_env: PG"), at: 11, 3,
                      "database: give url or url_env, not both")
        // Reported at whichever comes second.
        assertProblem(database("url_env: PG", "url: postgres://h/db", "backend: postgres"), at: 10, 3,
                      "give url or url_env, not both")
    }

    func testURLMustBeAPostgresURL() {
        assertProblem(database("backend: postgres", "url: mysql://root@h/db"), at: 10, 8,
                      "database: url must start with postgres:// or postgresql://, got 'mysql://root@h/db'")
        assertProblem(database("backend: postgres", "url: 127.0.0.1:5432"), at: 10, 8,
                      "url must start with postgres:// or postgresql://")
        assertProblem(database("backend: postgres", "url:"), at: 10, 7,
                      "database: url must be a URL such as postgres://", "got nothing")
    }

    func testABadURLIsShownWithoutItsPassword() {
        let found = problems(in: database("backend: postgres", "url: http://admin:hunter2@h/db"))
        XCTAssertEqual(found.count, 1)
        XCTAssertEqual(found.first?.line, 10)
        XCTAssertTrue(found.first?.message.contains("got 'http://admin:***@h/db'") == true, "\(found)")
        XCTAssertFalse(found.first?.message.contains("hunter2") == true)
    }

    func testURLEnvironmentMustBeAVariableName() {
        assertProblem(database("backend: postgres", "url_env: 9LIVES"), at: 10, 12,
                      "database: url_env must be the name of an environment variable", "got '9LIVES'")
        assertProblem(database("backend: postgres", "url_env: DB-URL"), at: 10, 12, "got 'DB-URL'")
        assertProblem(database("backend: postgres", "url_env: \"\""), at: 10, 12, "url_env must be the name")
        assertProblem(database("backend: postgres", "url_env: [A]"), at: 10, 12,
                      "url_env must be an environment variable name such as SPACEGRID_DATABASE_URL", "a list")
    }

    func testURLEnvironmentHints() {
        assertProblem(database("backend: postgres", "url_env: $SPACEGRID_DATABASE_URL"), at: 10, 12,
                      "write the name without '$'")
        assertProblem(database("backend: postgres", "url_env: ${PG}"), at: 10, 12, "write the name without '$'")
        let found = problems(in: database("backend: postgres", "url_env: postgres://u:secret@h/db"))
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found.first?.message.contains("write the URL itself under url") == true, "\(found)")
        XCTAssertFalse(found.first?.message.contains("secret") == true, "\(found)")
    }

    func testEmptyPath() {
        assertProblem(database("path: ''"), at: 9, 9, "database: path must not be empty",
                      "leave it out for the default <grid>.sqlite")
        assertProblem(database("path: \"  \""), at: 9, 9, "path must not be empty")
        assertProblem(database("path:"), at: 9, 8, "database: path must be a file path such as trading.sqlite",
                      "got nothing")
    }

    func testBatchOutOfRangeOrNotAnInteger() {
        assertProblem(database("batch: 0"), at: 9, 10, "database: batch must be between 1 and 100000, got 0")
        assertProblem(database("batch: 100001"), at: 9, 10, "batch must be between 1 and 100000, got 100001")
        assertProblem(database("batch: lots"), at: 9, 10, "database: batch must be an integer, got 'lots'")
        assertProblem(database("batch: 1_000"), at: 9, 10, "batch must be an integer")
        assertProblem(database("batch: \"10\""), at: 9, 10, "batch must be an integer", "quoted string")
    }

    func testMaxDelayNotADurationOrOutOfRange() {
        assertProblem(database("max_delay: 100"), at: 9, 14,
                      "database: max_delay must be a duration with a unit", "write 100ms")
        assertProblem(database("max_delay: 1m"), at: 9, 14,
                      "database: max_delay must be a duration such as 50ms or 2s", "got '1m'")
        assertProblem(database("max_delay: 0ms"), at: 9, 14,
                      "database: max_delay must be between 1ms and 60s, got 0ms")
        assertProblem(database("max_delay: 61s"), at: 9, 14, "max_delay must be between 1ms and 60s, got 61s")
    }

    func testEveryDatabaseProblemIsReportedAtOnce() {
        let found = problems(in: database(
            "backend: postgres", "path: x.sqlite", "colour: blue", "batch: -1", "max_delay: soon"))
        XCTAssertEqual(found.map(\.line), [9, 10, 11, 12, 13], found.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(found.map(\.column), [3, 3, 3, 10, 14])
        XCTAssertTrue(found[0].message.contains("missing the required key 'url' or 'url_env'"))
        XCTAssertTrue(found[1].message.contains("path is only allowed with 'backend: sqlite'"))
        XCTAssertTrue(found[2].message.contains("unknown key 'colour' in database"))
        XCTAssertTrue(found[3].message.contains("batch must be between"))
        XCTAssertTrue(found[4].message.contains("max_delay must be a duration"))
    }

    func testDatabaseProblemsShowWithProblemsElsewhere() {
        let yaml = """
            grid: trading
            broker:
              clients: tcp://127.0.0.1:5570
              units: tcp://127.0.0.1:5571
              events: tcp://127.0.0.1:5572
              liveness: 1
            database:
              batch: 0
            sections:
              customer: {units: 0}
            """
        XCTAssertEqual(problems(in: yaml).map(\.line), [6, 8, 10])
    }

    // MARK: - The SQLite file

    func testSQLitePathRelativeToTheRunFolder() {
        let database = DatabaseConfig(path: "data/trading.sqlite")
        XCTAssertEqual(database.sqlitePath(grid: "trading", runFolder: "/srv/grid/.spacegrid"),
                       "/srv/grid/.spacegrid/data/trading.sqlite")
        XCTAssertEqual(database.sqlitePath(grid: "trading", runFolder: "/srv/grid/"), "/srv/grid/data/trading.sqlite")
        XCTAssertEqual(database.sqlitePath(grid: "trading", runFolder: ".spacegrid"), ".spacegrid/data/trading.sqlite")
        XCTAssertEqual(database.sqlitePath(grid: "trading", runFolder: ""), "data/trading.sqlite")
    }

    func testSQLitePathAbsoluteIsKept() {
        XCTAssertEqual(DatabaseConfig(path: "/var/lib/grid.db").sqlitePath(grid: "trading", runFolder: "/run"),
                       "/var/lib/grid.db")
    }

    func testSQLitePathDefaultsToTheGridName() {
        XCTAssertEqual(DatabaseConfig().sqlitePath(grid: "trading", runFolder: "/run/here"),
                       "/run/here/trading.sqlite")
        XCTAssertEqual(DatabaseConfig().sqlitePath(grid: "single", runFolder: "."), "./single.sqlite")
    }

    // MARK: - The PostgreSQL URL

    func testResolvedURLGivenDirectly() throws {
        let database = DatabaseConfig(backend: .postgres, url: "postgres://u@h:5432/db")
        XCTAssertEqual(try database.resolvedURL(environment: [:]), "postgres://u@h:5432/db")
    }

    func testResolvedURLFromTheEnvironment() throws {
        let database = DatabaseConfig(backend: .postgres, urlEnvironment: "SPACEGRID_DATABASE_URL")
        XCTAssertEqual(
            try database.resolvedURL(environment: ["SPACEGRID_DATABASE_URL": "postgresql://u:p@h/db", "OTHER": "x"]),
            "postgresql://u:p@h/db")
    }

    func testResolvedURLWithTheVariableUnset() {
        let database = DatabaseConfig(backend: .postgres, urlEnvironment: "SPACEGRID_DATABASE_URL")
        XCTAssertThrowsError(try database.resolvedURL(environment: ["OTHER": "postgres://h/db"])) { error in
            let message = (error as? DatabaseConfigError)?.message ?? "\(error)"
            XCTAssertTrue(message.contains("the environment variable SPACEGRID_DATABASE_URL is not set"), message)
            XCTAssertEqual("\(error)", message)
        }
    }

    func testResolvedURLWithTheVariableEmpty() {
        let database = DatabaseConfig(backend: .postgres, urlEnvironment: "PG")
        for empty in ["", "  \n"] {
            XCTAssertThrowsError(try database.resolvedURL(environment: ["PG": empty])) { error in
                XCTAssertTrue("\(error)".contains("the environment variable PG is empty"), "\(error)")
            }
        }
    }

    func testResolvedURLWithTheVariableHoldingSomethingElse() {
        let database = DatabaseConfig(backend: .postgres, urlEnvironment: "PG")
        XCTAssertThrowsError(try database.resolvedURL(environment: ["PG": "mysql://root:hunter2@h/db"])) { error in
            XCTAssertTrue("\(error)".contains("PG must hold a URL starting with postgres://"), "\(error)")
            XCTAssertTrue("\(error)".contains("mysql://root:***@h/db"), "\(error)")
            XCTAssertFalse("\(error)".contains("hunter2"), "\(error)")
        }
    }

    func testResolvedURLWithoutAnyURL() {
        XCTAssertThrowsError(try DatabaseConfig().resolvedURL(environment: [:])) { error in
            XCTAssertTrue("\(error)".contains("sqlite database has no URL"), "\(error)")
        }
        XCTAssertThrowsError(try DatabaseConfig(backend: .postgres).resolvedURL(environment: [:])) { error in
            XCTAssertTrue("\(error)".contains("neither url nor url_env"), "\(error)")
        }
    }

    // MARK: - The summary

    func testSummaryMasksThePassword() {
        let database = DatabaseConfig(backend: .postgres, url: "postgres://spacegrid:hunter2@127.0.0.1:5432/spacegrid")
        XCTAssertEqual(database.summary, "postgres postgres://spacegrid:***@127.0.0.1:5432/spacegrid")
    }

    func testSummaryOfEachKind() {
        XCTAssertEqual(DatabaseConfig(path: "trading.sqlite").summary, "sqlite trading.sqlite")
        XCTAssertEqual(DatabaseConfig().summary, "sqlite (default file <grid>.sqlite)")
        XCTAssertEqual(DatabaseConfig(backend: .postgres, url: "postgres://spacegrid@h/db").summary,
                       "postgres postgres://spacegrid@h/db")
        XCTAssertEqual(DatabaseConfig(backend: .postgres, urlEnvironment: "SPACEGRID_DATABASE_URL").summary,
                       "postgres (URL from $SPACEGRID_DATABASE_URL)")
    }

    func testRedactingHidesEveryPassword() {
        XCTAssertEqual(DatabaseConfig.redacting(url: "postgresql://u:p%40ss@h:5432/db?sslmode=require"),
                       "postgresql://u:***@h:5432/db?sslmode=require")
        // Unescaped '@' and '/' in a password are still hidden whole.
        XCTAssertEqual(DatabaseConfig.redacting(url: "postgres://u:a@b/c@h/db"), "postgres://u:***@h/db")
        XCTAssertEqual(DatabaseConfig.redacting(url: "postgres://h/db?user=u&password=secret&sslmode=disable"),
                       "postgres://h/db?user=u&password=***&sslmode=disable")
        XCTAssertEqual(DatabaseConfig.redacting(url: "postgres://u@h/db"), "postgres://u@h/db")
        XCTAssertEqual(DatabaseConfig.redacting(url: "postgres://h"), "postgres://h")
        XCTAssertEqual(DatabaseConfig.redacting(url: "admin:hunter2@h/db"), "admin:***@h/db")
        XCTAssertEqual(DatabaseConfig.redacting(url: "127.0.0.1:5432"), "127.0.0.1:5432")
    }
}
