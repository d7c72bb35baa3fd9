import GridCore
import GridTopology
import XCTest

/// The topology files shipped in `topologies/` decode to the grids they document.
///
/// These files are what users start first and what the other modules' tests
/// run, so a change that breaks one must fail here, not at `spacegrid up`.
final class TopologyFilesTests: XCTestCase {
    /// `topologies/` at the repository root, found from this source file.
    static let topologiesDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // GridTopologyTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository root
        .appendingPathComponent("topologies")

    func load(_ name: String) throws -> Topology {
        try Topology.load(path: Self.topologiesDirectory.appendingPathComponent(name).path)
    }

    func testTradingDecodes() throws {
        let topology = try load("trading.yaml")
        XCTAssertEqual(topology.grid, "trading")
        XCTAssertEqual(topology.broker, BrokerConfig(
            clients: "tcp://127.0.0.1:5570", units: "tcp://127.0.0.1:5571", events: "tcp://127.0.0.1:5572",
            heartbeatMilliseconds: 100, liveness: 3, maxMessageBytes: 1_048_576))
        XCTAssertEqual(topology.sections.map(\.name), ["customer", "product", "order"])
        for section in topology.sections {
            XCTAssertEqual(section.units, 2, section.name)
            XCTAssertEqual(section.partitioner, .hash(partitions: 271), section.name)
            XCTAssertEqual(section.partitionCount, 271, section.name)
            XCTAssertEqual(section.backups, 1, section.name)
            XCTAssertEqual(section.mode, .sync, section.name)
            XCTAssertEqual(section.replicationIntervalMilliseconds, 50, section.name)
        }
        XCTAssertEqual(topology.section(named: "order")?.unitNames, ["order-1", "order-2"])
        XCTAssertEqual(topology.unitNames, [
            "customer-1", "customer-2", "product-1", "product-2", "order-1", "order-2",
        ])
        XCTAssertEqual(topology.database, DatabaseConfig(
            backend: .sqlite, path: "trading.sqlite", batch: 1000, maxDelayMilliseconds: 100))
    }

    func testSingleDecodes() throws {
        let topology = try load("single.yaml")
        XCTAssertEqual(topology.grid, "single")
        XCTAssertEqual(topology.broker.clients, "tcp://127.0.0.1:5580")
        XCTAssertEqual(topology.broker.units, "tcp://127.0.0.1:5581")
        XCTAssertEqual(topology.broker.events, "tcp://127.0.0.1:5582")
        XCTAssertEqual(topology.sections.count, 1)
        let kv = try XCTUnwrap(topology.section(named: "kv"))
        XCTAssertEqual(kv.units, 1)
        XCTAssertEqual(kv.unitNames, ["kv-1"])
        XCTAssertEqual(kv.partitioner, .hash(partitions: 16))
        XCTAssertEqual(kv.backups, 0)
        XCTAssertEqual(kv.mode, .sync)
    }

    func testSeedTradingDecodesRanges() throws {
        let topology = try load("seed-trading.yaml")
        XCTAssertEqual(topology.grid, "seed-trading")
        XCTAssertEqual(
            [topology.broker.clients, topology.broker.units, topology.broker.events],
            ["tcp://127.0.0.1:5590", "tcp://127.0.0.1:5591", "tcp://127.0.0.1:5592"])
        XCTAssertEqual(topology.sections.map(\.name), ["customer", "product", "order"])

        let customer = try XCTUnwrap(topology.section(named: "customer"))
        XCTAssertEqual(customer.units, 4)
        XCTAssertEqual(customer.partitioner, .range([0..<250_000, 250_000..<500_000, 500_000..<750_000,
                                                     750_000..<1_000_000]))
        XCTAssertEqual(customer.partitionCount, 4)
        XCTAssertEqual(customer.backups, 1)
        XCTAssertEqual(customer.mode, .sync)
        XCTAssertEqual(customer.unitNames, ["customer-1", "customer-2", "customer-3", "customer-4"])
        // The decoded ranges route keys as declared, gaps and ends included.
        XCTAssertEqual(customer.partitioner.partition(of: Array("249999".utf8)), .success(0))
        XCTAssertEqual(customer.partitioner.partition(of: Array("250000".utf8)), .success(1))
        XCTAssertEqual(customer.partitioner.partition(of: Array("1000000".utf8)), .failure(.keyOutOfRange(1_000_000)))

        for name in ["product", "order"] {
            let section = try XCTUnwrap(topology.section(named: name))
            XCTAssertEqual(section.units, 2)
            XCTAssertEqual(section.partitioner, .hash(partitions: Partitioner.defaultPartitionCount))
            XCTAssertEqual(section.backups, 1)
        }
    }

    func testShippedFilesUseDistinctPorts() throws {
        // The three grids can run side by side on one machine.
        let endpoints = try ["trading.yaml", "single.yaml", "seed-trading.yaml"].flatMap { name in
            let broker = try load(name).broker
            return [broker.clients, broker.units, broker.events]
        }
        XCTAssertEqual(Set(endpoints).count, endpoints.count)
    }

    func testUnreadableFileIsOneProblemAtLineZero() {
        let path = Self.topologiesDirectory.appendingPathComponent("no-such-topology.yaml").path
        XCTAssertThrowsError(try Topology.load(path: path)) { error in
            guard let errors = error as? TopologyErrors else { return XCTFail("\(error)") }
            XCTAssertEqual(errors.problems.count, 1)
            XCTAssertEqual(errors.problems.first?.line, 0)
            XCTAssertEqual(errors.problems.first?.file, path)
            XCTAssertTrue(errors.description.contains("no such file"), errors.description)
        }
        XCTAssertThrowsError(try Topology.load(path: Self.topologiesDirectory.path)) { error in
            XCTAssertTrue("\(error)".contains("directory"), "\(error)")
        }
    }

    func testLoadNamesTheFileInProblems() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("gridtopology-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bad.yaml").path
        let text = "grid: bad\nbroker: {}\nsections: {kv: {units: 1}}\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try Topology.load(path: path)
            XCTFail("expected problems")
        } catch {
            XCTAssertTrue(error.problems.allSatisfy { $0.file == path })
            XCTAssertTrue(error.description.hasPrefix("\(path):2:9: broker is missing the required key 'clients'"),
                          error.description)
        }
    }
}
