import Foundation
import GridTopology
import XCTest

/// A grid over several machines: `hosts`, a section's `hosts`, the LAN defaults of failure
/// detection, and `security`.
final class HostsTests: XCTestCase {
    private let spread = """
        grid: trading
        hosts:
          alpha: 10.0.0.1
          beta: 10.0.0.2
          gamma: db-3.example.com
        broker:
          clients: tcp://10.0.0.1:5570
          units: tcp://10.0.0.1:5571
          events: tcp://10.0.0.1:5572
        sections:
          customer:
            units: 4
            hosts: [alpha, beta, gamma]
          product:
            units: 1
        security:
          mode: curve
          keys: keys

        """

    func testUnitsArePlacedOnTheirSectionsHostsRoundRobin() throws {
        let topology = try Topology.decode(yaml: spread)
        XCTAssertEqual(topology.hosts.map(\.name), ["alpha", "beta", "gamma"])
        XCTAssertEqual(topology.section(named: "customer")?.hosts, ["alpha", "beta", "gamma"])
        XCTAssertEqual(["customer-1", "customer-2", "customer-3", "customer-4", "customer-7"].map { topology.host(ofUnit: $0)?.name },
                       ["alpha", "beta", "gamma", "alpha", "alpha"])
        XCTAssertEqual(topology.host(ofUnit: "customer-3")?.address, "db-3.example.com")
        XCTAssertNil(topology.host(ofUnit: "product-1"), "a section without hosts runs wherever it is started")
        XCTAssertNil(topology.host(ofUnit: "nothing-1"))
        XCTAssertEqual(topology.brokerHost?.name, "alpha")
        XCTAssertEqual(topology.security, SecurityConfig(mode: .curve, keys: "keys"))
    }

    /// Hosts mean a network: a second of silence before a unit is dead, unless the file says.
    func testHostsBringLANFailureDetectionDefaults() throws {
        let topology = try Topology.decode(yaml: spread)
        XCTAssertEqual(topology.broker.heartbeatMilliseconds, BrokerConfig.lanHeartbeatMilliseconds)
        XCTAssertEqual(topology.broker.liveness, BrokerConfig.lanLiveness)
        XCTAssertEqual(topology.broker.unitExpiryMilliseconds, 1_000)
        XCTAssertEqual(topology.broker.lossGraceMilliseconds, BrokerConfig.lanLossGraceMilliseconds)
        let explicit = try Topology.decode(yaml: spread.replacingOccurrences(of: "  events: tcp://10.0.0.1:5572", with: "  events: tcp://10.0.0.1:5572\n  heartbeat: 50ms\n  liveness: 3"))
        XCTAssertEqual(explicit.broker.heartbeatMilliseconds, 50)
        XCTAssertEqual(explicit.broker.liveness, 3)
        let loopback = try Topology.decode(yaml: ProblemAssertions.section("units: 2"))
        XCTAssertEqual(loopback.broker.heartbeatMilliseconds, BrokerConfig.defaultHeartbeatMilliseconds)
        XCTAssertEqual(loopback.broker.lossGraceMilliseconds, BrokerConfig.defaultLossGraceMilliseconds)
        XCTAssertTrue(loopback.hosts.isEmpty)
        XCTAssertNil(loopback.security)
    }

    func testASectionNamingAnUndeclaredHostIsAProblemAtThatName() {
        assertProblem(spread.replacingOccurrences(of: "[alpha, beta, gamma]", with: "[alpha, betta]"), at: 13, 20,
                      "section 'customer': hosts names 'betta', which the topology's hosts do not declare", "did you mean 'beta'?")
        assertProblem(ProblemAssertions.section("units: 2", "hosts: [alpha]"), at: 9, 13, "the topology declares no hosts")
        assertProblem(spread.replacingOccurrences(of: "[alpha, beta, gamma]", with: "[alpha, alpha]"), at: 13, 20, "names 'alpha' twice")
        assertProblem(spread.replacingOccurrences(of: "[alpha, beta, gamma]", with: "alpha"), at: 13, 12, "hosts must be a list of host names")
    }

    func testAHostAddressIsAnAddressAlone() {
        assertProblem(spread.replacingOccurrences(of: "alpha: 10.0.0.1", with: "alpha: tcp://10.0.0.1:5570"), at: 3, 10,
                      "hosts: alpha must be an IPv4 address or a DNS name without scheme or port")
        assertProblem(spread.replacingOccurrences(of: "beta: 10.0.0.2", with: "beta: 10.0.0.1"), at: 4, 9, "has the address of alpha")
        assertProblem(spread.replacingOccurrences(of: "alpha: 10.0.0.1", with: "Alpha: 10.0.0.1"), at: 3, 3, "host name 'Alpha'", only: false)
    }

    func testSecurityNeedsAModeAndAKeyFolder() {
        assertProblem(spread.replacingOccurrences(of: "  keys: keys\n", with: ""), at: 17, 3, "security is missing the required key 'keys'")
        assertProblem(spread.replacingOccurrences(of: "mode: curve", with: "mode: plain"), at: 17, 9, "security: mode must be 'curve', got 'plain'")
        assertProblem(spread.replacingOccurrences(of: "  keys: keys\n", with: "  keys: keys\n  allow: all\n"), at: 19, 3, "unknown key 'allow' in security")
    }

    /// The key folder is named relative to the topology file, wherever the command runs.
    func testTheKeyFolderIsRelativeToTheTopologyFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hosts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("grid.yaml")
        try spread.write(to: file, atomically: true, encoding: .utf8)
        let topology = try Topology.load(path: file.path)
        XCTAssertEqual(topology.security?.keys, folder.appendingPathComponent("keys").standardizedFileURL.path)
    }
}
