import Foundation
import GridClient

import XCTest
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A grid with `security: {mode: curve}`: the key folder's clients get in, over every path
/// (units to the broker and to each other, the mirror, the CLI); a client whose key is not
/// in the folder is refused on every socket the grid binds (the broker's clients, units and
/// events; a unit's changes, replication and direct requests), and each refusal is counted.
final class SecurityTests: XCTestCase {
    private var grid: TestGrid!
    private var keys: URL!
    private var stranger: CurveKeyPair!
    private var serverKey: String!

    override func setUpWithError() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("spacegrid-keys-\(UUID().uuidString.prefix(8))")
        keys = scratch.appendingPathComponent("keys")
        for name in ["grid", "mirror", "client"] {
            let result = try Spacegrid.run(["keys", "generate", name, "--dir", keys.path])
            XCTAssertEqual(result.status, 0, result.stderr)
        }
        let again = try Spacegrid.run(["keys", "generate", "client", "--dir", keys.path])
        XCTAssertEqual(again.status, 2, "an existing key pair is never replaced silently")
        serverKey = try KeyFolder(path: keys.path).publicKey(named: "grid")
        stranger = try CurveKeyPair.generate()
        grid = try TestGrid(sections: """
              customer:
                units: 2
                partitions: 7
                backups: 1
            """, database: "  backend: sqlite\n", security: "  mode: curve\n  keys: \(keys.path)\n")
        try? FileManager.default.removeItem(at: scratch.appendingPathComponent("unused"))
    }

    override func tearDown() {
        grid?.stop()
        if let keys { try? FileManager.default.removeItem(at: keys.deletingLastPathComponent()) }
    }

    private func cli(_ arguments: [String]) throws -> Spacegrid.Result {
        try Spacegrid.run(arguments + ["--broker", grid.endpoint, "--key-folder", keys.path])
    }

    private func statusJSON() throws -> [String: Any] {
        let result = try cli(["status", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    }

    /// Refusals so far: at the broker, and at each unit (from its REPORT).
    private func refusals() throws -> (broker: Int, units: [String: Int]) {
        let status = try statusJSON()
        var units: [String: Int] = [:]
        for section in status["sections"] as? [[String: Any]] ?? [] {
            for unit in section["units"] as? [[String: Any]] ?? [] {
                units[unit["name"] as? String ?? "?"] = unit["refused_keys"] as? Int ?? 0
            }
        }
        return (status["refused_keys"] as? Int ?? -1, units)
    }

    func testKnownKeysGetInAndAnUnknownKeyIsRefusedOnEverySocket() throws {
        // Allowed: the CLI's client key, through the broker to a unit (and its backup, the mirror).
        XCTAssertEqual(try cli(["put", "customer", "k1", "v1"]).status, 0)
        let read = try cli(["get", "customer", "k1"])
        XCTAssertEqual(read.status, 0, read.stderr)
        XCTAssertEqual(read.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "v1")
        XCTAssertTrue(eventually(timeoutSeconds: 20) { ((try? self.statusJSON())?["mirror"] as? [String: Any]) != nil },
                      "the mirror connects with its own key and reports\n\(grid.diagnostics)")
        XCTAssertEqual(try refusals().broker, 0)

        // Without keys, or with a key not in the folder: no answer from the broker.
        let plain = Context()
        let unsecured = try GridConnection(context: plain, endpoint: grid.endpoint)
        XCTAssertEqual(try unsecured.call("grid", "status", key: "-", timeoutMilliseconds: 1_000).status, .timeout)
        unsecured.close()
        let strangerContext = Context(curve: CurveIdentity(keys: stranger, serverKey: serverKey))
        let refusedClient = try GridConnection(context: strangerContext, endpoint: grid.endpoint)
        XCTAssertEqual(try refusedClient.call("customer", "get", key: "k1", timeoutMilliseconds: 1_000).status, .timeout)
        refusedClient.close()
        XCTAssertTrue(eventually(timeoutSeconds: 10) { (try? self.refusals().broker) ?? 0 >= 1 }, "the broker counts the refusal")

        // Every other socket the grid binds: each refusal is counted by the process that owns it.
        let status = try statusJSON()
        let section = try XCTUnwrap((status["sections"] as? [[String: Any]])?.first)
        let unit = try XCTUnwrap((section["units"] as? [[String: Any]])?.first)
        let unitName = try XCTUnwrap(unit["name"] as? String)
        let topology = try String(contentsOf: grid.topologyPath, encoding: .utf8)
        func brokerEndpoint(_ key: String) -> String {
            topology.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("\(key):") }
                .map { String($0.split(separator: " ").last!) } ?? ""
        }
        let targets: [(what: String, endpoint: String, type: SocketType, owner: String?)] = [
            ("broker units", brokerEndpoint("units"), .dealer, nil),
            ("broker events", status["events"] as? String ?? "", .sub, nil),
            ("unit changes", unit["publisher"] as? String ?? "", .sub, unitName),
            ("unit replication", unit["replication"] as? String ?? "", .dealer, unitName),
            ("unit direct requests", unit["clients"] as? String ?? "", .dealer, unitName),
        ]
        for target in targets {
            XCTAssertFalse(target.endpoint.isEmpty, target.what)
            let before = try refusals()
            let socket = try Socket(strangerContext, target.type, linger: 0)
            try strangerContext.curve!.connect(socket)
            if target.type == .sub { try socket.subscribe([]) }
            try socket.connect(target.endpoint)
            if target.type == .dealer { _ = try socket.send([Array("hello".utf8)]) }
            // Traffic the allowed ones see while the stranger waits: it must see none of it.
            XCTAssertEqual(try cli(["put", "customer", "k2", "v\(target.what.count)"]).status, 0)
            XCTAssertTrue(eventually(timeoutSeconds: 15) {
                guard let now = try? self.refusals() else { return false }
                if let owner = target.owner { return (now.units[owner] ?? 0) > (before.units[owner] ?? 0) }
                return now.broker > before.broker
            }, "\(target.what) (\(target.endpoint)) counts the refusal\n\(grid.diagnostics)")
            XCTAssertNil(try socket.receive(), "\(target.what) sent a refused client something")
            socket.close()
        }
        let metrics = try cli(["metrics"])
        XCTAssertTrue(metrics.stdout.contains("spacegrid_security_refused_total{process=\"broker\"}"), metrics.stdout)
        XCTAssertTrue(metrics.stdout.contains("spacegrid_security_refused_total{process=\"\(unitName)\"}"), metrics.stdout)
        let log = try String(contentsOf: grid.runFolder.appendingPathComponent("logs/broker.log"), encoding: .utf8)
        XCTAssertTrue(log.contains("refused a connection") && log.contains(stranger.publicKey), "the broker logs the refused key")
        let human = try cli(["status"])
        XCTAssertTrue(human.stdout.contains("security: CURVE; connections refused for an unknown key:"), human.stdout)
    }

    /// A key added to the folder is let in without a restart.
    func testAKeyAddedToTheFolderIsAdmittedWithoutARestart() throws {
        let late = try Spacegrid.run(["keys", "generate", "late", "--dir", keys.path])
        XCTAssertEqual(late.status, 0, late.stderr)
        XCTAssertTrue(eventually(timeoutSeconds: 15) {
            (try? Spacegrid.run(["get", "customer", "nothing", "--broker", self.grid.endpoint, "--key-folder", self.keys.path, "--key-name", "late",
                                 "--timeout", "1000"]))?.status == 1
        }, "a get as 'late' is answered (404: exit 1)\n\(grid.diagnostics)")
    }
}
