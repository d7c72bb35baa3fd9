import Foundation
import GridClient
import GridRuntime
import GridTopology
import GridWire
import Logging
import TradingSections
import XCTest
import ZeroMQ

/// A whole grid in this process: a broker thread and one thread per unit,
/// over `inproc://` endpoints of one shared context.
final class InProcessGrid {
    let context = Context()
    let topology: Topology
    private(set) var broker: ServiceThread?
    private(set) var units: [String: ServiceThread] = [:]

    /// Starts the broker and every unit of `yaml`, whose endpoints are replaced by unique inproc ones.
    init(yaml: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let id = UUID().uuidString.prefix(8)
        topology = try Topology.decode(yaml: yaml).rewriting(
            clients: "inproc://clients-\(id)", units: "inproc://units-\(id)", events: "inproc://events-\(id)")
        startBroker()
        // inproc needs the bind before the connect: wait for the broker to answer.
        let connection = try client()
        defer { connection.close() }
        XCTAssertTrue(waitFor(timeoutMilliseconds: 5_000) {
            (try? connection.call("grid", "ping", key: "-", timeoutMilliseconds: 200))?.status == .ok
        }, "broker did not start", file: file, line: line)
        for section in topology.sections {
            for name in section.unitNames { startUnit(section: section.name, name: name) }
        }
    }

    func startBroker() {
        let topology = self.topology
        let context = self.context
        broker = ServiceThread(name: "broker") { signal in
            let broker = try Broker(topology: topology, context: context, logger: quietLogger("test.broker"))
            try broker.run(until: signal)
        }
    }

    func startUnit(section: String, name: String) {
        let config = topology.section(named: section)!
        let configuration = ProcessingUnit.Configuration(
            section: section, name: name, broker: topology.broker.units,
            heartbeatMilliseconds: topology.broker.heartbeatMilliseconds, liveness: topology.broker.liveness,
            mode: config.mode, replicationIntervalMilliseconds: config.replicationIntervalMilliseconds,
            partitionCount: config.partitionCount, logic: SectionCatalog.section(named: section), clients: topology.broker.clients)
        let context = self.context
        units[name] = ServiceThread(name: name) { signal in
            let unit = try ProcessingUnit(configuration: configuration, context: context, logger: quietLogger("test.\(name)"))
            try unit.run(until: signal)
        }
    }

    /// Stops a unit's loop without a goodbye reaching the broker first is not possible in-process;
    /// `stopUnit` is the polite stop (the unit sends DISCONNECT).
    func stopUnit(_ name: String) {
        units.removeValue(forKey: name)?.stop()
    }

    func client() throws -> GridConnection {
        try GridConnection(context: context, endpoint: topology.broker.clients)
    }

    func status() throws -> GridStatus? {
        let connection = try client()
        defer { connection.close() }
        let reply = try connection.call("grid", "status", key: "-", timeoutMilliseconds: 2_000)
        return GridStatus(decoding: reply.payload)
    }

    /// Waits until every partition has a primary.
    func waitUntilReady(timeoutMilliseconds: Int = 10_000) -> Bool {
        waitFor(timeoutMilliseconds: timeoutMilliseconds) { (try? self.status())??.ready == true }
    }

    func stop() {
        for unit in units.values { unit.stop() }
        units.removeAll()
        broker?.stop()
        broker = nil
    }

    deinit { stop() }
}

/// Polls `condition` every 20 ms until it holds or the time is up (a bounded wait, not a sleep for sync).
func waitFor(timeoutMilliseconds: Int, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = monotonicMilliseconds() + UInt64(timeoutMilliseconds)
    while monotonicMilliseconds() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

/// Two hash sections with two units each, fast heartbeats.
let twoSectionYAML = """
    grid: test
    broker:
      clients: tcp://127.0.0.1:1
      units: tcp://127.0.0.1:2
      events: tcp://127.0.0.1:3
      heartbeat: 50ms
      liveness: 3
      max_message_bytes: 65536
    sections:
      customer:
        units: 2
        partitions: 31
        backups: 1
      product:
        units: 2
        partitions: 17
        backups: 1
    """

/// Tests log warnings and worse only: a grid's info lines would drown the test output.
func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .warning
    return logger
}
