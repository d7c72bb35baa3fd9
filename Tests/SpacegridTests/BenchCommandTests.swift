import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Runs `spacegrid bench` against a small grid started with the real binary,
/// and checks what it reports. Runs are one second long; nothing here asserts
/// a timing beyond loose sanity bounds.
final class BenchCommandTests: XCTestCase {
    var grid: TestGrid?

    /// The keys every JSON summary must have, for the grid and for the relay.
    static let measurementKeys = ["duration_s", "rate_offered", "ops", "ops_per_s", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "errors"]

    override func setUpWithError() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Spacegrid.executable), "build the binary first: \(Spacegrid.executable)")
    }

    override func tearDown() {
        grid?.stop()
        grid = nil
    }

    func startGrid() throws -> TestGrid {
        let grid = try TestGrid(sections: """
              customer:
                units: 2
                partitions: 16
                backups: 1
            """)
        self.grid = grid
        XCTAssertTrue(eventually(timeoutSeconds: 30) { grid.isWhole(backups: 1) }, "the grid did not become whole:\n\(grid.log)")
        return grid
    }

    /// `spacegrid bench ARGUMENTS --json` against `grid`, one second, no warm-up; the parsed summary.
    func bench(_ grid: TestGrid, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let result = try Spacegrid.run(
            ["bench"] + arguments + ["--duration", "1", "--warmup", "0", "--json", "--broker", grid.endpoint],
            timeoutSeconds: 60)
        XCTAssertEqual(result.status, 0, "bench \(arguments) failed:\n\(result.stderr)", file: file, line: line)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return try XCTUnwrap(object, "bench \(arguments) did not print one JSON object:\n\(result.stdout)", file: file, line: line)
    }

    /// Every measurement key is there, with sane values: replies, ordered percentiles, no errors.
    func checkMeasurement(_ measurement: [String: Any], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        for key in Self.measurementKeys {
            XCTAssertNotNil(measurement[key], "\(label): no \(key) in \(measurement)", file: file, line: line)
        }
        let ops = measurement["ops"] as? Int ?? 0
        XCTAssertGreaterThan(ops, 0, "\(label): no replies", file: file, line: line)
        XCTAssertGreaterThan(number(measurement["ops_per_s"]) ?? 0, 0, label, file: file, line: line)
        XCTAssertGreaterThan(number(measurement["duration_s"]) ?? 0, 0, label, file: file, line: line)
        XCTAssertEqual(measurement["errors"] as? Int, 0, "\(label): \(measurement["first_error"] ?? "")", file: file, line: line)
        let percentiles = ["p50_ms", "p99_ms", "p999_ms", "max_ms"].map { number(measurement[$0]) ?? -1 }
        XCTAssertGreaterThan(percentiles[0], 0, "\(label): p50", file: file, line: line)
        XCTAssertEqual(percentiles, percentiles.sorted(), "\(label): p50 <= p99 <= p99.9 <= max", file: file, line: line)
    }

    /// A JSON number as a Double (JSONSerialization may hand back an Int for `500`).
    func number(_ value: Any?) -> Double? {
        switch value {
        case let value as Double: value
        case let value as Int: Double(value)
        case let value as NSNumber: value.doubleValue
        default: nil
        }
    }

    // MARK: - Runs against a grid

    func testClosedLoopJSONHasEveryKeyAndTheMemoryOfEveryProcess() throws {
        let grid = try startGrid()
        let summary = try bench(grid, ["get", "--keys", "1000", "--connections", "4", "--depth", "8"])
        checkMeasurement(summary, "grid")
        XCTAssertEqual(summary["workload"] as? String, "get")
        XCTAssertEqual(summary["connections"] as? Int, 4)
        XCTAssertEqual(summary["depth"] as? Int, 8)
        XCTAssertTrue(summary["rate_offered"] is NSNull, "the closed loop offers no rate: \(summary["rate_offered"] ?? "absent")")
        XCTAssertTrue(summary["relay"] is NSNull)
        XCTAssertEqual(summary["distribution"] as? String, "uniform")
        let operations = try XCTUnwrap(summary["operations"] as? [String: [String: Any]])
        XCTAssertEqual(operations["get"]?["ops"] as? Int, summary["ops"] as? Int)

        let memory = try XCTUnwrap(summary["memory"] as? [[String: Any]])
        let byName = Dictionary(memory.compactMap { entry in (entry["name"] as? String).map { ($0, entry) } }, uniquingKeysWith: { first, _ in first })
        let units = grid.units()
        XCTAssertEqual(units.count, 2)
        XCTAssertEqual(byName["broker"]?["pid"] as? Int, grid.brokerPID().map(Int.init))
        for (name, unit) in units {
            let entry = try XCTUnwrap(byName[name], "memory does not list \(name): \(memory)")
            XCTAssertEqual(entry["pid"] as? Int, Int(unit.pid))
        }
        for name in ["broker", "bench"] + units.keys {
            let entry = try XCTUnwrap(byName[name], "memory does not list \(name): \(memory)")
            let rss = number(entry["rss_mb"]) ?? 0
            let peak = number(entry["peak_rss_mb"]) ?? 0
            XCTAssertGreaterThan(rss, 0, "\(name): \(entry)")
            XCTAssertGreaterThanOrEqual(peak, rss, "\(name): the peak is at least the current size")
        }
    }

    func testOpenLoopReportsTheOfferedAndTheAchievedRate() throws {
        let grid = try startGrid()
        let summary = try bench(grid, ["put", "--keys", "1000", "--rate", "500"])
        checkMeasurement(summary, "open loop")
        XCTAssertEqual(number(summary["rate_offered"]), 500)
        // The schedule never sends ahead of the offered rate (how far below it lands is the machine's speed).
        let ops = number(summary["ops"]) ?? 0
        let seconds = number(summary["duration_s"]) ?? 0
        XCTAssertLessThanOrEqual(ops, 500 * seconds + 8, "\(ops) requests in \(seconds) s for 500 offered")
    }

    func testMixedCountsGetsAndPuts() throws {
        let grid = try startGrid()
        let summary = try bench(grid, ["mixed", "--keys", "1000", "--read-percent", "50"])
        checkMeasurement(summary, "mixed")
        XCTAssertEqual(summary["read_percent"] as? Int, 50)
        let operations = try XCTUnwrap(summary["operations"] as? [String: [String: Any]])
        let gets = operations["get"]?["ops"] as? Int ?? 0
        let puts = operations["put"]?["ops"] as? Int ?? 0
        XCTAssertGreaterThan(gets, 0, "\(operations)")
        XCTAssertGreaterThan(puts, 0, "\(operations)")
        XCTAssertEqual(gets + puts, summary["ops"] as? Int)
    }

    func testZipfConcentratesRequestsOnTheHottestKey() throws {
        let grid = try startGrid()
        let uniform = try bench(grid, ["put", "--keys", "1000", "--seed", "7"])
        let zipf = try bench(grid, ["put", "--keys", "1000", "--seed", "7", "--distribution", "zipf"])
        let uniformShare = try XCTUnwrap(number(uniform["top_key_share"]))
        let zipfShare = try XCTUnwrap(number(zipf["top_key_share"]))
        XCTAssertEqual(zipf["distribution"] as? String, "zipf")
        XCTAssertEqual(number(zipf["zipf_exponent"]), 0.99)
        XCTAssertEqual(zipf["top_key"] as? Int, 0, "key 0 is zipf's most likely key")
        // With 1,000 keys and s = 0.99 key 0 gets about 13% of the requests; uniformly about 0.1%.
        XCTAssertGreaterThan(zipfShare, uniformShare * 5, "zipf \(zipfShare), uniform \(uniformShare)")
        XCTAssertGreaterThan(zipfShare, 0.05)
    }

    func testRelayRunsTheSameShapeAndGivesARatio() throws {
        let grid = try startGrid()
        let summary = try bench(grid, ["get", "--keys", "1000", "--connections", "2", "--depth", "8", "--relay"])
        checkMeasurement(summary, "grid")
        let relay = try XCTUnwrap(summary["relay"] as? [String: Any], "no relay object: \(summary)")
        checkMeasurement(relay, "relay")
        XCTAssertEqual(relay["workers"] as? Int, 2, "as many echo workers as the section has units")
        let replyBytes = try XCTUnwrap(relay["reply_bytes"] as? [String: Int])
        XCTAssertEqual(replyBytes["get"], 100, "a get replies with the 100-byte value")
        XCTAssertGreaterThan(number(summary["relay_ratio"]) ?? 0, 0)
        XCTAssertGreaterThan(number(summary["relay_p99_ratio"]) ?? 0, 0)
    }

    func testDirectConnectionsBypassTheBroker() throws {
        let grid = try startGrid()
        let before = grid.status()?["requests"] as? Int ?? 0
        let summary = try bench(grid, ["get", "--keys", "1000", "--connections", "3", "--threads", "1", "--depth", "8", "--direct"])
        checkMeasurement(summary, "direct")
        XCTAssertEqual(summary["direct"] as? Bool, true)
        let ops = summary["ops"] as? Int ?? 0
        let after = grid.status()?["requests"] as? Int ?? 0
        // The broker saw the connections' table reads (and the status calls), not the gets nor the preload.
        XCTAssertLessThan(after - before, 50, "\(after - before) requests reached the broker for \(ops) direct gets")
        XCTAssertGreaterThan(ops, 50)
    }

    func testConnectionsSpreadOverFewerThreadsAllRun() throws {
        let grid = try startGrid()
        // 5 connections on 2 driver threads (3 and 2 each), closed loop with a preload of each one's share.
        let closed = try bench(grid, ["get", "--keys", "1000", "--connections", "5", "--depth", "4", "--threads", "2"])
        checkMeasurement(closed, "closed, 2 threads")
        XCTAssertEqual(closed["connections"] as? Int, 5)
        // The open loop on one thread: every connection's schedule, and never ahead of the offered rate.
        let open = try bench(grid, ["put", "--keys", "1000", "--connections", "5", "--threads", "1", "--rate", "500"])
        checkMeasurement(open, "open, 1 thread")
        let ops = number(open["ops"]) ?? 0
        let seconds = number(open["duration_s"]) ?? 0
        XCTAssertLessThanOrEqual(ops, 500 * seconds + 8, "\(ops) requests in \(seconds) s for 500 offered")
        // More threads than connections: one connection per thread.
        let many = try bench(grid, ["mixed", "--keys", "1000", "--connections", "3", "--depth", "2", "--threads", "8", "--relay"])
        checkMeasurement(many, "mixed, 8 threads asked")
        checkMeasurement(try XCTUnwrap(many["relay"] as? [String: Any]), "relay, 8 threads asked")
    }

    func testASilentGridCostsEachConnectionItsRequestsInFlight() throws {
        let grid = try startGrid()
        let broker = try XCTUnwrap(grid.brokerPID())
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-silent-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let stdoutURL = folder.appendingPathComponent("stdout"), stderrURL = folder.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Spacegrid.executable)
        // 3 connections on 2 threads, 4 in flight each; a run far longer than the test waits.
        process.arguments = ["bench", "put", "--keys", "100", "--connections", "3", "--threads", "2", "--depth", "4",
                             "--duration", "60", "--warmup", "0", "--timeout", "1000", "--json", "--broker", grid.endpoint]
        process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        try process.run()
        var stopped = false
        defer {
            if stopped { kill(broker, SIGCONT) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        // Once the bench measures (a progress line), the broker stops answering: every connection
        // hears nothing for --timeout with its 4 requests in flight, counts them lost and gives up.
        let measuring = eventually(timeoutSeconds: 30) { ((try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "").contains("ops/s") }
        XCTAssertTrue(measuring, "no progress line: \((try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "")")
        kill(broker, SIGSTOP)
        stopped = true
        XCTAssertTrue(eventually(timeoutSeconds: 30) { !process.isRunning }, "the bench did not end after its connections timed out")
        kill(broker, SIGCONT)
        stopped = false
        process.waitUntilExit()
        let stdout = (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "no JSON summary:\n\(stdout)\n\(stderr)")
        XCTAssertEqual(summary["timeouts"] as? Int, 12, "3 connections x 4 in flight: \(summary)")
        XCTAssertGreaterThanOrEqual(summary["errors"] as? Int ?? 0, 12)
        XCTAssertTrue((summary["first_error"] as? String ?? "").contains("timeout"), "\(summary["first_error"] ?? "no first_error")")
        XCTAssertEqual(summary["interrupted"] as? Bool, false)
    }

    func testTheHumanSummaryShowsTheLoopAndTheMemoryTable() throws {
        let grid = try startGrid()
        let result = try Spacegrid.run(
            ["bench", "put", "--keys", "100", "--connections", "2", "--duration", "1", "--warmup", "0", "--rate", "200", "--broker", grid.endpoint],
            timeoutSeconds: 60)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("open: 200 ops/s offered"), result.stdout)
        XCTAssertTrue(result.stdout.contains("PROCESS"), result.stdout)
        XCTAssertTrue(result.stdout.contains("PEAK RSS MB"), result.stdout)
        XCTAssertTrue(result.stdout.contains("broker"), result.stdout)
    }

    // MARK: - Without a grid

    func testBadOptionsExitTwoWithAMessage() throws {
        let cases: [([String], String)] = [
            (["get", "--rate", "0"], "--rate must be a positive number"),
            (["mixed", "--read-percent", "101"], "--read-percent must be between 0 and 100"),
            (["get", "--read-percent", "50"], "--read-percent applies to mixed"),
            (["get", "--distribution", "pareto"], "--distribution must be uniform or zipf"),
            (["get", "--zipf-exponent", "1.2"], "--zipf-exponent applies to --distribution zipf"),
            (["get", "--distribution", "zipf", "--zipf-exponent", "0"], "--zipf-exponent must be above 0"),
            (["get", "--relay-workers", "2"], "--relay-workers applies to --relay"),
            (["get", "--connections", "0"], "--connections must be between 1 and 1024"),
            (["get", "--threads", "0"], "--threads must be between 1 and 64"),
            (["get", "--threads", "65"], "--threads must be between 1 and 64"),
            (["trade", "--read-percent", "50"], "--read-percent applies to get, put and mixed"),
        ]
        // An endpoint nothing listens on: the options are refused before any connection.
        let endpoint = "tcp://127.0.0.1:\(freePort())"
        for (arguments, message) in cases {
            let result = try Spacegrid.run(["bench"] + arguments + ["--broker", endpoint, "--timeout", "500"], timeoutSeconds: 20)
            XCTAssertEqual(result.status, 2, "bench \(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(message), "bench \(arguments) says:\n\(result.stderr)")
            XCTAssertTrue(result.stdout.isEmpty, "bench \(arguments) printed:\n\(result.stdout)")
        }
    }

    func testHelpDescribesTheNewOptions() throws {
        let result = try Spacegrid.run(["bench", "--help"], timeoutSeconds: 20)
        XCTAssertEqual(result.status, 0)
        for text in ["--rate <ops-per-s>", "--read-percent", "--distribution", "--zipf-exponent", "--relay", "mixed",
                     "coordinated-omission", "VmHWM", "--threads <n>", "--connections <n>] [--depth <d>] [--duration <seconds>] [--rate <ops-per-s>] [--json]"] {
            XCTAssertTrue(result.stdout.contains(text), "help does not mention \(text)")
        }
    }
}
