import Foundation
import GridClient
import GridCore
import GridStore
import GRDB
import XCTest
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// Write-behind end to end (DESIGN.md section 6), with the real binary: `spacegrid up`
/// starts the mirror, a restart loads from the database, a killed mirror resumes
/// exactly, and a database outage under load loses nothing.
///
/// Each test runs against SQLite, and against PostgreSQL when `SPACEGRID_POSTGRES_URL`
/// names a server (`scripts/test` starts one; CI always does).
final class WriteBehindTests: XCTestCase {
    enum Backend {
        case sqlite
        case postgres(url: String)

        var yaml: String {
            switch self {
            case .sqlite:
                return "  backend: sqlite\n  batch: 200\n  max_delay: 20ms"
            case .postgres:
                return "  backend: postgres\n  url_env: SPACEGRID_POSTGRES_URL\n  batch: 200\n  max_delay: 20ms"
            }
        }
    }

    private var grid: TestGrid?

    override func tearDown() {
        grid?.stop()
        grid = nil
    }

    static var postgresURL: String? {
        guard let url = ProcessInfo.processInfo.environment["SPACEGRID_POSTGRES_URL"], !url.isEmpty else { return nil }
        return url
    }

    private func postgres() throws -> Backend {
        guard let url = Self.postgresURL else {
            throw XCTSkip("PostgreSQL tests skipped: SPACEGRID_POSTGRES_URL is not set (scripts/test starts a server)")
        }
        return .postgres(url: url)
    }

    /// A section name no other test uses: PostgreSQL tables outlive a test.
    private func uniqueSection() -> String {
        "wb" + UUID().uuidString.prefix(8).lowercased().filter { $0.isLetter || $0.isNumber }
    }

    private func startGrid(_ backend: Backend, section: String) throws -> TestGrid {
        let grid = try TestGrid(sections: """
              \(section):
                units: 2
                partitions: 16
                backups: 1
                mode: sync
            """, database: backend.yaml)
        self.grid = grid
        return grid
    }

    private func openStore(_ backend: Backend, _ grid: TestGrid) throws -> any WriteBehindStore {
        switch backend {
        case .sqlite: return try SQLiteStore(path: grid.runFolder.appendingPathComponent("testgrid.sqlite").path)
        case .postgres(let url): return try PostgresStore(url: url)
        }
    }

    // MARK: - Restart from the database

    func testSQLiteRestartReadsBackEveryKey() throws { try restartReadsBackEveryKey(.sqlite) }
    func testPostgresRestartReadsBackEveryKey() throws { try restartReadsBackEveryKey(try postgres()) }

    /// Puts, updates and deletes; a polite stop; a start from the same database:
    /// every key reads back with its last value and version, deletes stay deleted.
    private func restartReadsBackEveryKey(_ backend: Backend) throws {
        let section = uniqueSection()
        let grid = try startGrid(backend, section: section)
        var expected: [String: (value: String, version: UInt64)?] = [:]
        do {
            let context = Context()
            let connection = try GridConnection(context: context, endpoint: grid.endpoint)
            defer { connection.close() }
            func put(_ key: String, _ value: String) throws {
                let reply = try connection.call(section, "put", key: key, arguments: [Array(value.utf8)])
                XCTAssertEqual(reply.status, .ok, reply.text)
                expected[key] = (value, reply.version)
            }
            for index in 0..<300 { try put("k\(index)", "{\"n\":\(index)}") }
            for index in stride(from: 0, to: 300, by: 3) { try put("k\(index)", "{\"n\":\(index),\"updated\":true}") }
            for index in stride(from: 1, to: 300, by: 6) {
                let reply = try connection.call(section, "del", key: "k\(index)")
                XCTAssertEqual(reply.status, .ok, reply.text)
                expected["k\(index)"] = .some(nil)
            }
        }
        grid.stop(keepFiles: true)
        XCTAssertFalse(grid.log.contains("killed"), "a process had to be killed:\n\(grid.log)")
        XCTAssertEqual(grid.up.terminationStatus, 0, "a clean stop stored everything:\n\(grid.log)")

        try grid.launch()
        XCTAssertTrue(grid.log.contains("ready in"), grid.log)
        let context = Context()
        let connection = try GridConnection(context: context, endpoint: grid.endpoint)
        defer { connection.close() }
        var wrong: [String] = []
        for (key, want) in expected.sorted(by: { $0.key < $1.key }) {
            let reply = try connection.call(section, "get", key: key)
            switch want {
            case .some(let entry):
                if reply.status != .ok || reply.text != entry.value || reply.version != entry.version {
                    wrong.append("\(key): want \(entry.value) v\(entry.version), read \(reply.status.rawValue) \(reply.text) v\(reply.version)")
                }
            case .none:
                if reply.status != .notFound { wrong.append("\(key): deleted, read \(reply.status.rawValue) \(reply.text)") }
            }
        }
        XCTAssertEqual(wrong, [], "\(wrong.count) keys read back wrong after the restart")
        // Writes continue above the stored versions (no version is reused after a cold start).
        let reply = try connection.call(section, "put", key: "k0", arguments: [Array("{\"after\":1}".utf8)])
        XCTAssertEqual(reply.status, .ok)
        XCTAssertGreaterThan(reply.version, expected["k0"]!!.version)
    }

    // MARK: - kill -9 the mirror

    func testSQLiteKilledMirrorResumesExactly() throws { try killedMirrorResumesExactly(.sqlite) }
    func testPostgresKilledMirrorResumesExactly() throws { try killedMirrorResumesExactly(try postgres()) }

    /// `kill -9` the mirror in the middle of a write load; `up` starts it again. At the
    /// end the database holds exactly the grid's state: every key with its version.
    private func killedMirrorResumesExactly(_ backend: Backend) throws {
        let section = uniqueSection()
        let grid = try startGrid(backend, section: section)
        let writer = try AcknowledgedWriter(endpoint: grid.endpoint, section: section, keys: 2_000, depth: 16)
        try writer.run(milliseconds: 1_500)
        let mirrorPID = try XCTUnwrap(mirrorStatus(grid)?["pid"] as? Int, "no mirror in the status")
        XCTAssertEqual(kill(Int32(mirrorPID), SIGKILL), 0)
        try writer.run(milliseconds: 2_000)
        try writer.drain()
        XCTAssertTrue(eventually(timeoutSeconds: 30) { (self.mirrorStatus(grid)?["pid"] as? Int).map { $0 != mirrorPID } ?? false },
                      "the mirror was not restarted:\n\(grid.log)")
        XCTAssertEqual(try writer.lostWrites(), [])
        try assertDatabaseMatchesGrid(backend, grid, section: section, keys: (0..<2_000).map { "w\($0)" })
    }

    /// `kill -9` of the unit leading the most partitions under a write load: its backup
    /// takes over with an empty replication log, so whatever the mirror missed comes by
    /// snapshot. At the end the database still holds exactly the grid's state.
    func testSQLiteKilledPrimaryLeavesTheDatabaseEqualToTheGrid() throws {
        let section = uniqueSection()
        let grid = try startGrid(.sqlite, section: section)
        let writer = try AcknowledgedWriter(endpoint: grid.endpoint, section: section, keys: 2_000, depth: 16)
        try writer.run(milliseconds: 1_000)
        let busiest = try XCTUnwrap(grid.units().max { $0.value.primaries < $1.value.primaries })
        XCTAssertEqual(kill(busiest.value.pid, SIGKILL), 0)
        try writer.run(milliseconds: 2_000)
        try writer.drain()
        XCTAssertTrue(eventually(timeoutSeconds: 30) { grid.isWhole(backups: 1) }, "the grid did not heal:\n\(grid.log)")
        XCTAssertEqual(try writer.lostWrites(), [])
        try assertDatabaseMatchesGrid(.sqlite, grid, section: section, keys: (0..<2_000).map { "w\($0)" })
    }

    // MARK: - The database goes away

    func testSQLiteOutageUnderLoadLosesNothing() throws {
        let section = uniqueSection()
        let grid = try startGrid(.sqlite, section: section)
        // Another connection to the file takes its write lock and keeps it: the mirror's
        // commits wait out the store's busy timeout (`SQLiteStore`'s default, 5 s) and
        // fail with SQLITE_BUSY until it lets go. The lock is held until the mirror shows
        // the failure, so always longer than that timeout.
        let path = grid.runFolder.appendingPathComponent("testgrid.sqlite").path
        var configuration = Configuration()
        // The mirror may be in a transaction when the lock is asked for.
        configuration.busyMode = .timeout(10)
        // The transaction stays open between the two calls below.
        configuration.allowsUnsafeTransactions = true
        let locker = try DatabaseQueue(path: path, configuration: configuration)
        try outageLosesNothing(.sqlite, grid, section: section,
                               breakDatabase: { try locker.writeWithoutTransaction { try $0.execute(sql: "BEGIN EXCLUSIVE") } },
                               healDatabase: { try locker.writeWithoutTransaction { try $0.execute(sql: "ROLLBACK") } })
        let mirrorLog = (try? String(contentsOf: grid.runFolder.appendingPathComponent("logs/mirror.log"), encoding: .utf8)) ?? ""
        XCTAssertTrue(mirrorLog.contains("database is locked"), "the mirror's writes did not fail on the lock:\n\(mirrorLog.suffix(2_000))")
    }

    func testPostgresOutageUnderLoadLosesNothing() throws {
        let backend = try postgres()
        let environment = ProcessInfo.processInfo.environment
        guard let data = environment["SPACEGRID_POSTGRES_DATA"] else {
            throw XCTSkip("PostgreSQL outage test skipped: SPACEGRID_POSTGRES_DATA is not set (scripts/postgres start sets it)")
        }
        let folder = URL(fileURLWithPath: data).deletingLastPathComponent().path
        let section = uniqueSection()
        let grid = try startGrid(backend, section: section)
        try outageLosesNothing(backend, grid, section: section,
                               breakDatabase: { try Self.postgresScript("pause", folder) },
                               healDatabase: { try Self.postgresScript("resume", folder) })
    }

    /// Under a write load the database goes away: the grid keeps serving, the backlog
    /// grows and is shown; when the database returns the backlog drains and the
    /// database holds exactly the grid's state.
    private func outageLosesNothing(_ backend: Backend, _ grid: TestGrid, section: String,
                                    breakDatabase: () throws -> Void, healDatabase: () throws -> Void) throws {
        let writer = try AcknowledgedWriter(endpoint: grid.endpoint, section: section, keys: 2_000, depth: 16)
        try writer.run(milliseconds: 1_000)
        // The outage must find the mirror running: it has read its watermarks and written.
        let writing = try eventually(timeoutSeconds: 30) {
            try writer.run(milliseconds: 100)
            return (mirrorSection(grid, section)?["committed_changes"] as? Int ?? 0) > 0
        }
        XCTAssertTrue(writing, "the mirror wrote nothing before the outage:\n\(grid.diagnostics)")
        try breakDatabase()
        var healed = false
        defer { if !healed { try? healDatabase() } }
        if case .postgres(let url) = backend {
            XCTAssertThrowsError(try PostgresStore(url: url, connectTimeout: 2), "the server still answers after the pause")
        }
        let acknowledgedBefore = writer.ackTimes.count
        try writer.run(milliseconds: 1_500)
        XCTAssertGreaterThan(writer.ackTimes.count, acknowledgedBefore, "the grid stopped serving while the database was away")
        // The mirror reports every half second: keep writing until its report shows the outage.
        var failing: [String: Any] = [:]
        // A statement cut off by the server's stop fails at once or, at worst, after the
        // store's request timeout (10 s for the grid's processes).
        let shown = try eventually(timeoutSeconds: 45) {
            try writer.run(milliseconds: 200)
            failing = mirrorSection(grid, section) ?? [:]
            return (failing["failures"] as? Int ?? 0) > 0 && (failing["pending_changes"] as? Int ?? 0) > 0
        }
        XCTAssertTrue(shown, "the mirror shows no failed write and no backlog: \(failing)\n\(grid.diagnostics)")
        try healDatabase()
        healed = true
        try writer.run(milliseconds: 1_000)
        try writer.drain()
        XCTAssertEqual(try writer.lostWrites(), [])
        try assertDatabaseMatchesGrid(backend, grid, section: section, keys: (0..<2_000).map { "w\($0)" })
    }

    /// F1.6: a polite stop while the database refuses writes. The units give up waiting
    /// for the mirror after their limit and exit non-zero; `up` says so and exits 3. The
    /// mirror, once the database is back, writes what it received, and the next start reads
    /// every acknowledged write back with its version.
    func testAStopThatCouldNotStoreEverythingSaysSoAndExitsNonZero() throws {
        let section = uniqueSection()
        let grid = try startGrid(.sqlite, section: section)
        let context = Context()
        let connection = try GridConnection(context: context, endpoint: grid.endpoint)
        defer { connection.close() }
        var acknowledged: [String: (value: String, version: UInt64)] = [:]
        func put(_ key: String, _ value: String) throws {
            let reply = try connection.call(section, "put", key: key, arguments: [Array(value.utf8)])
            XCTAssertEqual(reply.status, .ok, reply.text)
            acknowledged[key] = (value, reply.version)
        }
        for index in 0..<100 { try put("k\(index)", "{\"n\":\(index)}") }
        let writing = eventually(timeoutSeconds: 30) { (self.mirrorSection(grid, section)?["pending_changes"] as? Int) == 0 }
        XCTAssertTrue(writing, "the mirror did not store the first writes:\n\(grid.diagnostics)")

        let path = grid.runFolder.appendingPathComponent("testgrid.sqlite").path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.allowsUnsafeTransactions = true
        let locker = try DatabaseQueue(path: path, configuration: configuration)
        try locker.writeWithoutTransaction { try $0.execute(sql: "BEGIN EXCLUSIVE") }
        var locked = true
        defer { if locked { try? locker.writeWithoutTransaction { try $0.execute(sql: "ROLLBACK") } } }
        for index in 0..<100 { try put("k\(index)", "{\"n\":\(index),\"late\":true}") }

        let units = grid.units().values.map(\.pid)
        XCTAssertEqual(units.count, 2)
        kill(grid.up.processIdentifier, SIGTERM)
        // The units wait for the mirror (10 s), then give up; the database comes back after.
        let unitsGone = eventually(timeoutSeconds: 40) { units.allSatisfy { kill($0, 0) != 0 } }
        XCTAssertTrue(unitsGone, "the units did not stop:\n\(grid.log)")
        try locker.writeWithoutTransaction { try $0.execute(sql: "ROLLBACK") }
        locked = false
        XCTAssertTrue(eventually(timeoutSeconds: 60) { !grid.up.isRunning }, "up did not stop:\n\(grid.log)")
        grid.up.waitUntilExit()
        XCTAssertEqual(grid.up.terminationStatus, 3, grid.log)
        XCTAssertTrue(grid.log.contains("gave up waiting for the database to store the changes they led"), grid.log)
        XCTAssertTrue(grid.log.contains("the mirror then wrote everything it had received"), grid.log)
        let unitLogs = try FileManager.default.contentsOfDirectory(atPath: grid.runFolder.appendingPathComponent("logs").path)
            .filter { $0.hasPrefix(section) }
            .map { (try? String(contentsOf: grid.runFolder.appendingPathComponent("logs/\($0)"), encoding: .utf8)) ?? "" }
        XCTAssertTrue(unitLogs.contains { $0.contains("stopping before the mirror stored everything") }, "no unit said which partitions")

        try grid.launch()
        let again = try GridConnection(context: context, endpoint: grid.endpoint)
        defer { again.close() }
        var wrong: [String] = []
        for (key, entry) in acknowledged.sorted(by: { $0.key < $1.key }) {
            let reply = try again.call(section, "get", key: key)
            if reply.status != .ok || reply.text != entry.value || reply.version != entry.version {
                wrong.append("\(key): want \(entry.value) v\(entry.version), read \(reply.status.rawValue) \(reply.text) v\(reply.version)")
            }
        }
        XCTAssertEqual(wrong, [], "acknowledged writes missing after the restart")
    }

    static func postgresScript(_ command: String, _ folder: String) throws {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [root.appendingPathComponent("scripts/postgres").path, command, folder]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "scripts/postgres \(command) failed")
    }

    // MARK: - Helpers

    private func mirrorStatus(_ grid: TestGrid) -> [String: Any]? {
        grid.status()?["mirror"] as? [String: Any]
    }

    private func mirrorSection(_ grid: TestGrid, _ section: String) -> [String: Any]? {
        (mirrorStatus(grid)?["sections"] as? [[String: Any]])?.first { $0["name"] as? String == section }
    }

    /// Waits until the mirror holds nothing back, then compares every key and version
    /// in the grid with the database's rows (and that the database holds no other row).
    private func assertDatabaseMatchesGrid(_ backend: Backend, _ grid: TestGrid, section: String, keys: [String],
                                           file: StaticString = #filePath, line: UInt = #line) throws {
        let context = Context()
        let connection = try GridConnection(context: context, endpoint: grid.endpoint)
        defer { connection.close() }
        var inGrid: [String: (value: String, version: UInt64)] = [:]
        for key in keys {
            let reply = try connection.call(section, "get", key: key)
            if reply.status == .ok { inGrid[key] = (reply.text, reply.version) }
        }
        let store = try openStore(backend, grid)
        var differences: [String] = []
        let matched = eventually(timeoutSeconds: 60) {
            guard let mirror = self.mirrorSection(grid, section), mirror["pending_changes"] as? Int == 0 else { return false }
            var stored: [String: (value: String, version: UInt64)] = [:]
            guard (try? store.scan(section: section, partitions: nil, { _, key, value, version in
                stored[String(decoding: key, as: UTF8.self)] = (String(decoding: value, as: UTF8.self), version)
            })) != nil else { return false }
            differences = []
            for (key, entry) in inGrid where stored[key]?.value != entry.value || stored[key]?.version != entry.version {
                differences.append("\(key): grid \(entry.value) v\(entry.version), database \(stored[key].map { "\($0.value) v\($0.version)" } ?? "missing")")
            }
            for key in stored.keys where inGrid[key] == nil { differences.append("\(key): only in the database") }
            return differences.isEmpty
        }
        XCTAssertTrue(matched, "the database differs from the grid in \(differences.count) keys: \(differences.sorted().prefix(5))",
                      file: file, line: line)
        XCTAssertFalse(inGrid.isEmpty, "the load wrote nothing", file: file, line: line)
    }
}
