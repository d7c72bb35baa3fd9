import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Runs the real binary: `spacegrid up` on free ports, the CLI against it, then SIGTERM.
final class UpTests: XCTestCase {
    var folder: URL!
    var up: Process?

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("spacegrid-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Spacegrid.executable), "build the binary first: \(Spacegrid.executable)")
    }

    override func tearDown() {
        if let up, up.isRunning {
            kill(up.processIdentifier, SIGKILL)
            up.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: folder)
    }

    /// Starts `spacegrid up` on a two-section topology with free ports; returns the client endpoint.
    func startGrid() throws -> (endpoint: String, output: URL) {
        let (clients, units, events) = (freePort(), freePort(), freePort())
        let topology = folder.appendingPathComponent("grid.yaml")
        try """
            grid: uptest
            broker:
              clients: tcp://127.0.0.1:\(clients)
              units: tcp://127.0.0.1:\(units)
              events: tcp://127.0.0.1:\(events)
              heartbeat: 50ms
            sections:
              customer:
                units: 2
                partitions: 31
              product:
                units: 2
                partitions: 13
            """.write(to: topology, atomically: true, encoding: .utf8)
        let output = folder.appendingPathComponent("up.out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Spacegrid.executable)
        process.arguments = ["up", topology.path, "--run-folder", folder.appendingPathComponent("run").path]
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        up = process
        let ready = eventually(timeoutSeconds: 60) {
            ((try? String(contentsOf: output, encoding: .utf8)) ?? "").contains("ready in") || !process.isRunning
        }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        XCTAssertTrue(ready && process.isRunning, "spacegrid up did not become ready:\n\(text)")
        XCTAssertTrue(text.contains("tcp://127.0.0.1:\(clients)"), "up prints where clients connect:\n\(text)")
        return ("tcp://127.0.0.1:\(clients)", output)
    }

    func statusJSON(_ endpoint: String) throws -> [String: Any] {
        let result = try Spacegrid.run(["status", "--json", "--broker", endpoint])
        XCTAssertEqual(result.status, 0, result.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    func pids(_ status: [String: Any]) -> [String: Int32] {
        var pids: [String: Int32] = [:]
        for section in status["sections"] as? [[String: Any]] ?? [] {
            for unit in section["units"] as? [[String: Any]] ?? [] {
                if let name = unit["name"] as? String, let pid = unit["pid"] as? Int { pids[name] = Int32(pid) }
            }
        }
        return pids
    }

    func testUpServesTheCLIRestartsAKilledUnitAndStopsEverythingOnSIGTERM() throws {
        let (endpoint, output) = try startGrid()
        guard let up else { return XCTFail("no grid") }

        // CLI round trip.
        let put = try Spacegrid.run(["put", "customer", "42", #"{"balance":100}"#, "--broker", endpoint])
        XCTAssertEqual(put.status, 0, put.stderr)
        XCTAssertTrue(put.stdout.contains("version"), put.stdout)
        let get = try Spacegrid.run(["get", "customer", "42", "--broker", endpoint])
        XCTAssertEqual(get.status, 0, get.stderr)
        XCTAssertEqual(get.stdout, "{\"balance\":100}\n")
        let stdinPut = try Spacegrid.run(["put", "product", "AAPL", "-", "--broker", endpoint], stdin: #"{"price":18000}"#)
        XCTAssertEqual(stdinPut.status, 0, stdinPut.stderr)
        XCTAssertEqual(try Spacegrid.run(["get", "product", "AAPL", "--broker", endpoint]).stdout, "{\"price\":18000}\n")

        // Exit codes: missing key 1, other errors 2 with code and message.
        let missing = try Spacegrid.run(["get", "customer", "nobody", "--broker", endpoint])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("no entry"), missing.stderr)
        let unknown = try Spacegrid.run(["get", "nosuch", "1", "--broker", endpoint])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("unknown_section"), unknown.stderr)

        // status --json: every partition has a primary.
        let status = try statusJSON(endpoint)
        XCTAssertEqual(status["ready"] as? Bool, true)
        let sections = try XCTUnwrap(status["sections"] as? [[String: Any]])
        XCTAssertEqual(sections.count, 2)
        for section in sections {
            let partitions = try XCTUnwrap(section["partitions"] as? [[String: Any]])
            XCTAssertFalse(partitions.isEmpty)
            XCTAssertTrue(partitions.allSatisfy { $0["primary"] is String }, "every partition has a primary")
        }
        let table = try Spacegrid.run(["status", "--broker", endpoint])
        XCTAssertEqual(table.status, 0)
        XCTAssertTrue(table.stdout.contains("customer-1") && table.stdout.contains("PRIMARIES"), table.stdout)

        // kill -9 a unit: the deployment manager starts it again and the grid is whole again.
        let before = pids(status)
        XCTAssertEqual(before.count, 4)
        let victim = try XCTUnwrap(before["customer-2"])
        kill(victim, SIGKILL)
        XCTAssertTrue(try eventually(timeoutSeconds: 30) {
            let now = try statusJSON(endpoint)
            let pid = pids(now)["customer-2"]
            return pid != nil && pid != victim && now["ready"] as? Bool == true
        }, "customer-2 was not restarted:\n\((try? String(contentsOf: output, encoding: .utf8)) ?? "")")
        let afterRestart = try Spacegrid.run(["put", "customer", "7", "{}", "--broker", endpoint])
        XCTAssertEqual(afterRestart.status, 0, afterRestart.stderr)

        // SIGTERM stops every child within 5 seconds, leaving no process behind.
        let children = Array(pids(try statusJSON(endpoint)).values)
        let brokerPIDs = try childPIDs(of: up.processIdentifier)
        XCTAssertEqual(Set(brokerPIDs).isSuperset(of: children), true, "units are children of up")
        kill(up.processIdentifier, SIGTERM)
        XCTAssertTrue(eventually(timeoutSeconds: 10) { !up.isRunning }, "up did not exit")
        for pid in brokerPIDs {
            XCTAssertFalse(processExists(pid), "child \(pid) survived")
        }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        XCTAssertTrue(text.contains("stopped"), text)
        // Every child stopped on SIGTERM; none had to be killed when the 5 s grace ran out.
        XCTAssertFalse(text.contains("did not stop in time"), text)
    }

    /// F4: a paused (SIGSTOP) broker keeps its ports, so nothing could replace it and
    /// routing and failure detection would never come back. `up` asks it `grid ping` every
    /// second and kills it after 5 s without an answer; its successor serves.
    func testAPausedBrokerIsKilledAndReplaced() throws {
        let (endpoint, output) = try startGrid()
        let before = try XCTUnwrap(statusJSON(endpoint)["broker_pid"] as? Int)
        kill(Int32(before), SIGSTOP)
        defer { kill(Int32(before), SIGCONT) }
        let replaced = try eventually(timeoutSeconds: 40) {
            guard let status = try? Spacegrid.run(["status", "--json", "--broker", endpoint], timeoutSeconds: 5), status.status == 0,
                  let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any] else { return false }
            return (json["broker_pid"] as? Int).map { $0 != before } == true && json["ready"] as? Bool == true
        }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        XCTAssertTrue(replaced, "the paused broker was not replaced:\n\(text)")
        XCTAssertTrue(text.contains("has not answered for 5 s (paused or wedged): killing it"), text)
        let put = try Spacegrid.run(["put", "customer", "42", "{}", "--broker", endpoint])
        XCTAssertEqual(put.status, 0, put.stderr)
    }

    func testValidateReportsProblemsWithLinesAndExitsNonZero() throws {
        let broken = folder.appendingPathComponent("broken.yaml")
        try """
            grid: broken
            broker:
              clients: tcp://127.0.0.1:5570
              units: tcp://127.0.0.1:5571
              events: tcp://127.0.0.1:5572
            sections:
              customer:
                units: 2
                partitons: 12
            """.write(to: broken, atomically: true, encoding: .utf8)
        let result = try Spacegrid.run(["validate", broken.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains(":9:"), result.stderr)
        XCTAssertTrue(result.stderr.contains("partitions"), result.stderr)
        let trading = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("topologies/trading.yaml").path
        let good = try Spacegrid.run(["validate", trading])
        XCTAssertEqual(good.status, 0, good.stderr)
    }

    func testUpRefusesADatabaseItCannotNameBeforeStartingAnything() throws {
        let topology = folder.appendingPathComponent("pg.yaml")
        let variable = "SPACEGRID_TEST_UNSET_\(UUID().uuidString.prefix(8))"
        try """
            grid: pg
            broker:
              clients: tcp://127.0.0.1:\(freePort())
              units: tcp://127.0.0.1:\(freePort())
              events: tcp://127.0.0.1:\(freePort())
            database:
              backend: postgres
              url_env: \(variable.uppercased().replacingOccurrences(of: "-", with: "_"))
            sections:
              customer:
                units: 1
                backups: 0
            """.write(to: topology, atomically: true, encoding: .utf8)
        let run = folder.appendingPathComponent("pg-run")
        let result = try Spacegrid.run(["up", topology.path, "--run-folder", run.path], timeoutSeconds: 20)
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("is not set"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("logs").path), "nothing was started")
    }

    /// The ids of a process's children, from /proc.
    func childPIDs(of parent: Int32) throws -> [Int32] {
        var children: [Int32] = []
        for entry in try FileManager.default.contentsOfDirectory(atPath: "/proc") {
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == parent { children.append(pid) }
        }
        return children
    }
}
