import GridCore
import GridTopology
import XCTest

/// Valid topologies: defaults, unit names, partitioners and the value API.
final class TopologyDecodingTests: XCTestCase {
    func testMinimalTopologyGetsEveryDefault() throws {
        let topology = try Topology.decode(yaml: """
            grid: tiny
            broker:
              clients: tcp://127.0.0.1:6000
              units: ipc:///tmp/tiny-units
              events: inproc://tiny-events
            sections:
              customer:
                units: 3
            """)
        XCTAssertEqual(topology.broker.heartbeatMilliseconds, 100)
        XCTAssertEqual(topology.broker.liveness, 3)
        XCTAssertEqual(topology.broker.maxMessageBytes, 1_048_576)
        XCTAssertEqual(topology.broker.unitExpiryMilliseconds, 300)
        let customer = try XCTUnwrap(topology.section(named: "customer"))
        XCTAssertEqual(customer.partitioner, .hash(partitions: 271))
        XCTAssertEqual(customer.partitionCount, 271)
        XCTAssertEqual(customer.backups, 1)
        XCTAssertEqual(customer.mode, .sync)
        XCTAssertEqual(customer.replicationIntervalMilliseconds, 50)
        XCTAssertEqual(customer.unitNames, ["customer-1", "customer-2", "customer-3"])
        XCTAssertNil(topology.section(named: "product"))
    }

    func testSingleUnitSectionDefaultsToNoBackup() throws {
        // A backup never sits on its primary's unit, so one unit means no backup.
        let topology = try Topology.decode(yaml: """
            grid: one
            broker: {clients: "tcp://127.0.0.1:1", units: "tcp://127.0.0.1:2", events: "tcp://127.0.0.1:3"}
            sections:
              kv: {units: 1}
            """)
        XCTAssertEqual(topology.sections.first?.backups, 0)
    }

    func testEveryValueIsRead() throws {
        let topology = try Topology.decode(yaml: """
            grid: full_grid-2
            broker:
              clients: tcp://*:7000
              units: tcp://10.0.0.1:7001
              events: tcp://10.0.0.1:7002
              heartbeat: 2s
              liveness: 20
              max_message_bytes: 1024
            sections:
              order:
                units: 4
                partitions: 1
                partitioning: hash
                backups: 3
                mode: async
                replication_interval: 60s
              ledger:
                units: 1
                backups: 0
                replication_interval: 1ms
            """)
        XCTAssertEqual(topology.grid, "full_grid-2")
        XCTAssertEqual(topology.broker, BrokerConfig(
            clients: "tcp://*:7000", units: "tcp://10.0.0.1:7001", events: "tcp://10.0.0.1:7002",
            heartbeatMilliseconds: 2000, liveness: 20, maxMessageBytes: 1024))
        XCTAssertEqual(topology.sections, [
            SectionConfig(name: "order", units: 4, partitioner: .hash(partitions: 1), backups: 3, mode: .async,
                          replicationIntervalMilliseconds: 60_000),
            SectionConfig(name: "ledger", units: 1, partitioner: .hash(partitions: 271), backups: 0, mode: .sync,
                          replicationIntervalMilliseconds: 1),
        ])
    }

    func testRangesWithGapsAndNegativeKeysDecode() throws {
        let topology = try Topology.decode(yaml: """
            grid: ranges
            broker:
              clients: tcp://127.0.0.1:6000
              units: tcp://127.0.0.1:6001
              events: tcp://127.0.0.1:6002
            sections:
              account:
                units: 2
                partitioning: range
                ranges:
                  - [-100, 0]
                  - [0, 10]
                  - [20, 9223372036854775807]
            """)
        let account = try XCTUnwrap(topology.section(named: "account"))
        XCTAssertEqual(account.partitioner, .range([-100..<0, 0..<10, 20..<Int64.max]))
        XCTAssertEqual(account.partitionCount, 3)
        XCTAssertEqual(account.partitioner.partition(of: Array("15".utf8)), .failure(.keyOutOfRange(15)))
    }

    func testSectionsKeepFileOrder() throws {
        let topology = try Topology.decode(yaml: """
            grid: order
            broker: {clients: "inproc://c", units: "inproc://u", events: "inproc://e"}
            sections:
              zeta: {units: 2}
              alpha: {units: 2}
              mid: {units: 2}
            """)
        XCTAssertEqual(topology.sections.map(\.name), ["zeta", "alpha", "mid"])
        XCTAssertEqual(topology.unitNames, ["zeta-1", "zeta-2", "alpha-1", "alpha-2", "mid-1", "mid-2"])
    }

    func testRewritingReplacesOnlyTheEndpoints() throws {
        let original = try Topology.decode(yaml: """
            grid: trading
            broker:
              clients: tcp://127.0.0.1:5570
              units: tcp://127.0.0.1:5571
              events: tcp://127.0.0.1:5572
              liveness: 5
            sections:
              customer: {units: 2}
            """)
        let moved = original.rewriting(
            clients: "tcp://127.0.0.1:40001", units: "tcp://127.0.0.1:40002", events: "inproc://events")
        XCTAssertEqual(moved.broker.clients, "tcp://127.0.0.1:40001")
        XCTAssertEqual(moved.broker.units, "tcp://127.0.0.1:40002")
        XCTAssertEqual(moved.broker.events, "inproc://events")
        XCTAssertEqual(moved.broker.liveness, 5)
        XCTAssertEqual(moved.grid, original.grid)
        XCTAssertEqual(moved.sections, original.sections)
        XCTAssertEqual(original.broker.clients, "tcp://127.0.0.1:5570", "the original is unchanged")
    }

    func testQuotedKeysAndValuesAreAccepted() throws {
        let topology = try Topology.decode(yaml: """
            "grid": 'quoted'
            broker:
              'clients': "tcp://127.0.0.1:6000"
              units: 'tcp://127.0.0.1:6001'
              events: tcp://127.0.0.1:6002
              heartbeat: "250ms"
            sections:
              "kv":
                units: 2
                mode: 'async'
            """)
        XCTAssertEqual(topology.grid, "quoted")
        XCTAssertEqual(topology.broker.heartbeatMilliseconds, 250)
        XCTAssertEqual(topology.section(named: "kv")?.mode, .async)
    }

    func testUnitNamesOfAHandBuiltSection() {
        XCTAssertEqual(SectionConfig(name: "product", units: 3).unitNames, ["product-1", "product-2", "product-3"])
        XCTAssertEqual(SectionConfig(name: "empty", units: 0).unitNames, [])
        XCTAssertEqual(SectionConfig(name: "r", units: 2, partitioner: .range([0..<5, 5..<9])).partitionCount, 2)
    }
}
