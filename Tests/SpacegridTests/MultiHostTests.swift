import Foundation
import GridClient
import XCTest
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A grid over three hosts, on one machine: 127.0.0.1, 127.0.0.2 and 127.0.0.3 are all
/// loopback on Linux, so each "host" has its own address. Each host runs its part with its
/// own `spacegrid up --broker/--units`, as on three machines.
final class MultiHostTests: XCTestCase {
    /// One host's `spacegrid up` with its part of the grid.
    final class HostPart {
        let name: String
        let process = Process()
        let output: URL

        init(name: String, topology: URL, folder: URL, arguments: [String]) throws {
            self.name = name
            output = folder.appendingPathComponent("\(name).out")
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: Spacegrid.executable)
            process.arguments = ["up", topology.path, "--run-folder", folder.appendingPathComponent(name).path] + arguments
            let handle = try FileHandle(forWritingTo: output)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        var log: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

        func stop() {
            guard process.isRunning else { return }
            kill(process.processIdentifier, SIGTERM)
            if !eventually(timeoutSeconds: 15, { !self.process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    private var folder: URL!
    private var parts: [HostPart] = []

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("spacegrid-hosts-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() {
        // Units first, the broker's host last.
        for part in parts.reversed() { part.stop() }
        try? FileManager.default.removeItem(at: folder)
    }

    private func topology(clients: Int, extra: String = "") throws -> URL {
        let (units, events) = (freePort(), freePort())
        let file = folder.appendingPathComponent("grid.yaml")
        try """
            grid: hosts
            hosts:
              alpha: 127.0.0.1
              beta: 127.0.0.2
              gamma: 127.0.0.3
            broker:
              clients: tcp://127.0.0.1:\(clients)
              units: tcp://127.0.0.1:\(units)
              events: tcp://127.0.0.1:\(events)
              heartbeat: 50ms
              liveness: 4
            sections:
              customer:
                units: 4
                partitions: 31
                backups: 1
                hosts: [alpha, beta, gamma]
            \(extra)
            """.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    private func diagnostics() -> String {
        parts.map { "--- \($0.name)\n\($0.log)" }.joined(separator: "\n")
    }

    /// Three hosts, four units (alpha holds two): every unit binds and advertises its host's
    /// address, reports its host, and no partition has both copies on one host, from the
    /// first placement and after a unit is killed and restarted.
    func testCopiesOfAPartitionStayOnDifferentHosts() throws {
        let clients = freePort()
        let file = try topology(clients: clients)
        let endpoint = "tcp://127.0.0.1:\(clients)"
        parts.append(try HostPart(name: "alpha", topology: file, folder: folder, arguments: ["--broker", "--units", "customer-1,customer-4"]))
        parts.append(try HostPart(name: "beta", topology: file, folder: folder, arguments: ["--units", "customer-2"]))
        parts.append(try HostPart(name: "gamma", topology: file, folder: folder, arguments: ["--units", "customer-3"]))

        let hostOf = ["customer-1": "alpha", "customer-2": "beta", "customer-3": "gamma", "customer-4": "alpha"]
        let address = ["alpha": "127.0.0.1", "beta": "127.0.0.2", "gamma": "127.0.0.3"]
        /// Every partition with a primary and a backup on another host; nil while not so.
        func apart() -> [String: Any]? {
            guard let result = try? Spacegrid.run(["status", "--json", "--broker", endpoint], timeoutSeconds: 10), result.status == 0,
                  let status = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                  let section = (status["sections"] as? [[String: Any]])?.first,
                  let units = section["units"] as? [[String: Any]], units.count == 4,
                  let partitions = section["partitions"] as? [[String: Any]] else { return nil }
            for partition in partitions {
                guard let primary = partition["primary"] as? String, let backups = partition["backups"] as? [String], backups.count == 1,
                      hostOf[primary] != hostOf[backups[0]] else { return nil }
            }
            return status
        }
        XCTAssertTrue(eventually(timeoutSeconds: 60) { apart() != nil }, diagnostics())
        let status = try XCTUnwrap(apart(), diagnostics())
        let units = try XCTUnwrap(((status["sections"] as? [[String: Any]])?.first?["units"]) as? [[String: Any]])
        for unit in units {
            let name = try XCTUnwrap(unit["name"] as? String)
            XCTAssertEqual(unit["host"] as? String, hostOf[name], "\(name) reports its host")
            for key in ["publisher", "replication", "clients"] {
                let advertised = unit[key] as? String ?? ""
                XCTAssertTrue(advertised.hasPrefix("tcp://\(address[hostOf[name]!]!):"), "\(name) \(key) \(advertised)")
            }
        }
        let text = try Spacegrid.run(["status", "--broker", endpoint])
        XCTAssertTrue(text.stdout.contains("hosts: alpha (2 units), beta (1 units), gamma (1 units); partitions with two copies on one host: 0"),
                      text.stdout)
        XCTAssertTrue(parts[0].log.contains("ready in"), parts[0].log)

        // Writes go on while gamma's unit is killed; its `up` restarts it.
        let writer = try AcknowledgedWriter(endpoint: endpoint, section: "customer", keys: 300, depth: 16)
        try writer.run(milliseconds: 1_000)
        let gammaUnit = try XCTUnwrap(units.first { $0["name"] as? String == "customer-3" }?["pid"] as? Int)
        kill(Int32(gammaUnit), SIGKILL)
        try writer.run(milliseconds: 2_000)
        try writer.drain()
        XCTAssertTrue(eventually(timeoutSeconds: 60) {
            guard let status = apart(), let units = ((status["sections"] as? [[String: Any]])?.first?["units"]) as? [[String: Any]] else { return false }
            return units.contains { $0["name"] as? String == "customer-3" && $0["pid"] as? Int != gammaUnit }
        }, diagnostics())
        XCTAssertTrue(parts[2].log.contains("customer-3 restarted"), parts[2].log)
        XCTAssertEqual(try writer.lostWrites(), [])
        XCTAssertEqual(writer.errors, [])
    }

    /// Bad parts are refused before anything starts.
    func testUpRefusesUnitsTheTopologyDoesNotHave() throws {
        let file = try topology(clients: freePort())
        let result = try Spacegrid.run(["up", file.path, "--run-folder", folder.appendingPathComponent("x").path, "--units", "customer-1,order-1"])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stdout.contains("--units names order-1, not units of this topology"), result.stdout + result.stderr)
        let mirror = try Spacegrid.run(["up", file.path, "--run-folder", folder.appendingPathComponent("x").path, "--mirror"])
        XCTAssertEqual(mirror.status, 2)
        XCTAssertTrue(mirror.stdout.contains("names no database"), mirror.stdout)
        // Without hosts in the topology, a unit bound to every interface has nothing to advertise.
        let plain = folder.appendingPathComponent("plain.yaml")
        try (try String(contentsOf: file, encoding: .utf8)).replacingOccurrences(of: "    hosts: [alpha, beta, gamma]\n", with: "")
            .write(to: plain, atomically: true, encoding: .utf8)
        let wildcard = try Spacegrid.run(["unit", "--topology", plain.path, "--section", "customer", "--name", "customer-9", "--bind", "0.0.0.0"])
        XCTAssertEqual(wildcard.status, 2)
        XCTAssertTrue(wildcard.stderr.contains("needs --advertise"), wildcard.stderr)
    }
}
