import Foundation
import GridClient
import GridCore
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `spacegrid tail`: the pure decisions (filters, gaps, lines), then the real binary
/// following a grid through a put, a `kill -9` of the unit that served it (a failover),
/// and a `kill -9` of the broker.
final class TailTests: XCTestCase {
    // MARK: - Filters and subscriptions

    func testSubscriptionsAreAsNarrowAsTheFiltersAllow() {
        var all = TailSelector(filter: TailFilter())
        all.learn(section: "customer", partitioning: "hash", partitions: 31)
        XCTAssertEqual(all.subscriptionPrefixes(section: "customer"), [Array("customer.".utf8)])

        var one = TailSelector(filter: TailFilter(section: "customer", partition: 1, invalidations: true))
        one.learn(section: "customer", partitioning: "hash", partitions: 31)
        XCTAssertEqual(one.subscriptionPrefixes(section: "customer"), [Array("customer.1".utf8), Array("invalidate:customer".utf8)])
        XCTAssertEqual(one.subscriptionPrefixes(section: "product"), [], "another section is not subscribed at all")

        // A key narrows to its partition in a hash section, computed as the grid does (FNV-1a 64).
        var keyed = TailSelector(filter: TailFilter(key: Array("42".utf8)))
        keyed.learn(section: "customer", partitioning: "hash", partitions: 31)
        keyed.learn(section: "trade", partitioning: "range", partitions: 4)
        let partition = Int(FNV1a.hash(Array("42".utf8)) % 31)
        XCTAssertEqual(keyed.subscriptionPrefixes(section: "customer"), [Array("customer.\(partition)".utf8)])
        XCTAssertEqual(keyed.subscriptionPrefixes(section: "trade"), [Array("trade.".utf8)], "a range section's ranges are unknown to the tail")
    }

    func testAPrefixSubscriptionIsFilteredExactly() {
        // `customer.1` as a SUB prefix also delivers customer.17: the selector drops it.
        var selector = TailSelector(filter: TailFilter(section: "customer", partition: 1))
        selector.learn(section: "customer", partitioning: "hash", partitions: 31)
        XCTAssertEqual(selector.onChange(section: "customer", change(partition: 17, sequence: 1), timeMs: 0), [])
        XCTAssertEqual(selector.onChange(section: "customers", change(partition: 1, sequence: 1), timeMs: 0), [])
        XCTAssertEqual(selector.onChange(section: "customer", change(partition: 1, sequence: 1), timeMs: 5),
                       [.change(section: "customer", change: change(partition: 1, sequence: 1), timeMs: 5)])

        var keyed = TailSelector(filter: TailFilter(key: Array("a".utf8)))
        let other = change(partition: 0, sequence: 1, key: "b")
        XCTAssertEqual(keyed.onChange(section: "s", other, timeMs: 0), [], "another key of the same partition")
        XCTAssertEqual(keyed.onChange(section: "s", change(partition: 0, sequence: 2, key: "a"), timeMs: 0).count, 1)
    }

    func testSkippedSequencesOfAnEpochAreReportedAsAGap() {
        var selector = TailSelector(filter: TailFilter())
        XCTAssertEqual(selector.onChange(section: "s", change(partition: 3, epoch: 1, sequence: 4), timeMs: 0).count, 1, "no baseline yet: no gap")
        XCTAssertEqual(selector.onChange(section: "s", change(partition: 3, epoch: 1, sequence: 5), timeMs: 0).count, 1)
        let shown = selector.onChange(section: "s", change(partition: 3, epoch: 1, sequence: 9), timeMs: 7)
        XCTAssertEqual(shown.first, .gap(section: "s", partition: 3, epoch: 1, first: 6, last: 8, timeMs: 7))
        XCTAssertEqual(shown.count, 2)
        // A new epoch (a failover) is no gap; neither is another partition.
        XCTAssertEqual(selector.onChange(section: "s", change(partition: 3, epoch: 2, sequence: 20), timeMs: 0).count, 1)
        XCTAssertEqual(selector.onChange(section: "s", change(partition: 4, epoch: 1, sequence: 50), timeMs: 0).count, 1)
        // A stale change (a fenced primary) is shown and does not move the mark back.
        XCTAssertEqual(selector.onChange(section: "s", change(partition: 3, epoch: 1, sequence: 10), timeMs: 0).count, 1)
        XCTAssertEqual(selector.onChange(section: "s", change(partition: 3, epoch: 2, sequence: 21), timeMs: 0).count, 1)
    }

    func testGridEventsAreFilteredWhereTheyCarryTheField() {
        var selector = TailSelector(filter: TailFilter(section: "customer", partition: 5))
        selector.learn(section: "customer", partitioning: "hash", partitions: 31)
        let dead = event("grid.unit.dead", ["unit": .string("customer-1"), "section": .string("customer")])
        XCTAssertEqual(selector.shown(dead), dead)
        XCTAssertNil(selector.shown(event("grid.unit.dead", ["unit": .string("product-1"), "section": .string("product")])))
        XCTAssertNil(selector.shown(event("grid.partition.promoted", ["section": .string("customer"), "partition": .int(6)])))
        XCTAssertNotNil(selector.shown(event("grid.partition.promoted", ["section": .string("customer"), "partition": .int(5)])))
        XCTAssertNil(selector.shown(event("grid.backup.in_sync", ["section": .string("customer"), "partitions": .array([.int(1), .int(2)])])))
        XCTAssertNotNil(selector.shown(event("grid.backup.in_sync", ["section": .string("customer"), "partitions": .array([.int(5)])])))

        let lease = { (section: String, partition: Int64) -> JSONValue in
            .object(["section": .string(section), "partition": .int(partition), "unit": .string("u"), "epoch": .int(1)])
        }
        let table = event("grid.table", ["leases": .array([lease("customer", 5), lease("customer", 6), lease("product", 5)]), "backups": .array([])])
        let shown = selector.shown(table)
        XCTAssertEqual(shown?.fields["leases"], .array([lease("customer", 5)]))
        XCTAssertNil(selector.shown(event("grid.table", ["leases": .array([lease("product", 5)])])))

        XCTAssertNil(TailSelector(filter: TailFilter(changesOnly: true)).shown(dead))
    }

    // MARK: - Lines

    func testTextLines() {
        let put = TailEvent.change(section: "customer", change: change(partition: 17, epoch: 3, sequence: 42, key: "42", value: #"{"balance":100}"#), timeMs: 0)
        let text = TailFormat.text(put)
        XCTAssertTrue(text.hasSuffix(#"  customer.17  e3 s42  put  key=42  v42  {"balance":100}"#), text)
        XCTAssertEqual(text.count, "HH:MM:SS.mmm".count + #"  customer.17  e3 s42  put  key=42  v42  {"balance":100}"#.count)

        let delete = TailEvent.change(section: "customer", change: Change(partition: 1, epoch: 1, sequence: 2, key: Array("k".utf8), version: 2, kind: .delete, value: []), timeMs: 0)
        XCTAssertTrue(TailFormat.text(delete).hasSuffix("  customer.1  e1 s2  del  key=k  v2"), TailFormat.text(delete))

        XCTAssertEqual(TailFormat.preview(Array(String(repeating: "x", count: 61).utf8)), String(repeating: "x", count: 60) + "...")
        XCTAssertEqual(TailFormat.preview(Array(String(repeating: "x", count: 60).utf8)), String(repeating: "x", count: 60))
        XCTAssertEqual(TailFormat.preview(Array("a\nb\u{1}c".utf8)), "a.b.c", "control characters never reach the terminal")

        let dead = TailFormat.text(.grid(event("grid.unit.dead", ["unit": .string("customer-1"), "section": .string("customer"), "reason": .string("missed heartbeats")])))
        XCTAssertTrue(dead.hasSuffix(#"  grid  unit.dead  unit=customer-1 section=customer reason="missed heartbeats""#), dead)
        let lease = JSONValue.object(["section": .string("customer")])
        let table = TailFormat.text(.grid(event("grid.table", ["leases": .array([lease, lease]), "backups": .array([lease])])))
        XCTAssertTrue(table.hasSuffix("  grid  table  2 leases, 1 backup"), table)
    }

    func testJSONLines() throws {
        let put = TailEvent.change(section: "customer", change: change(partition: 17, epoch: 3, sequence: 42, key: "4\"2", value: "\u{FF}ok"), timeMs: 1_700_000_000_123)
        let object = try parse(TailFormat.json(put))
        XCTAssertEqual(object["type"] as? String, "change")
        XCTAssertEqual(object["time_ms"] as? Int, 1_700_000_000_123)
        XCTAssertEqual(object["section"] as? String, "customer")
        XCTAssertEqual(object["partition"] as? Int, 17)
        XCTAssertEqual(object["epoch"] as? Int, 3)
        XCTAssertEqual(object["sequence"] as? Int, 42)
        XCTAssertEqual(object["op"] as? String, "put")
        XCTAssertEqual(object["key"] as? String, "4\"2")
        XCTAssertEqual(object["version"] as? Int, 42)
        XCTAssertEqual(object["value"] as? String, "\u{FF}ok")

        let grid = try parse(TailFormat.json(.grid(event("grid.partition.promoted", [
            "section": .string("customer"), "partition": .int(3), "sequence": .int(9), "time_ms": .int(5),
        ]))))
        XCTAssertEqual(grid["type"] as? String, "grid")
        XCTAssertEqual(grid["event"] as? String, "grid.partition.promoted")
        XCTAssertEqual(grid["partition"] as? Int, 3)
        XCTAssertEqual(grid["sequence"] as? Int, 9)
        XCTAssertEqual(grid["time_ms"] as? Int, 5)

        let restarted = try parse(TailFormat.json(.brokerRestarted(pid: 12, previous: 11, timeMs: 9)))
        XCTAssertEqual(restarted["type"] as? String, "tail")
        XCTAssertEqual(restarted["event"] as? String, "broker.restarted")
        XCTAssertEqual(restarted["pid"] as? Int, 12)
        XCTAssertEqual(restarted["previous"] as? Int, 11)

        XCTAssertEqual(JSONValue.object(parsing: Array(#"{"a":true,"b":1,"c":1.5,"d":[null,"x"]}"#.utf8)),
                       ["a": .bool(true), "b": .int(1), "c": .double(1.5), "d": .array([.null, .string("x")])])
        XCTAssertNil(JSONValue.object(parsing: Array("[1]".utf8)))
        XCTAssertNil(JSONValue.object(parsing: Array("{".utf8)))
    }

    func testPromotionsOfOneFailoverFoldIntoOneTextLine() {
        var lines = TailTextLines()
        func promoted(_ partition: Int64, previous: String = "customer-1") -> TailEvent {
            .grid(event("grid.partition.promoted", [
                "section": .string("customer"), "partition": .int(partition), "unit": .string("customer-2"),
                "previous": .string(previous), "epoch": .int(2), "sequence": .int(0),
            ]))
        }
        XCTAssertEqual(lines.add(promoted(0)), [])
        XCTAssertEqual(lines.add(promoted(2)), [])
        XCTAssertTrue(lines.isHolding)
        let flushed = lines.add(promoted(4, previous: "customer-3"))
        XCTAssertEqual(flushed.count, 1)
        XCTAssertTrue(flushed[0].hasSuffix("  grid  partition.promoted  unit=customer-2 section=customer partitions=0,2 epoch=2 previous=customer-1"), flushed[0])
        let last = lines.add(.change(section: "customer", change: change(partition: 4, sequence: 1), timeMs: 0))
        XCTAssertEqual(last.count, 2)
        XCTAssertTrue(last[0].contains("partition=4 epoch=2 previous=customer-3 sequence=0"), last[0])
        XCTAssertEqual(lines.flush(), [])
    }

    // MARK: - The real binary

    var folder: URL!
    var processes: [Process] = []

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("spacegrid-tail-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() {
        // Every process this test started, by its own pid: SIGTERM, then SIGKILL.
        for process in processes.reversed() where process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            if !eventually(timeoutSeconds: 10, { !process.isRunning }) {
                kill(process.processIdentifier, SIGKILL)
            }
            process.waitUntilExit()
        }
        processes.removeAll()
        try? FileManager.default.removeItem(at: folder)
    }

    func testTailShowsAPutAndFollowsAFailoverAndABrokerRestart() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Spacegrid.executable), "build the binary first: \(Spacegrid.executable)")
        // Detection (3 x 20 ms) must beat `spacegrid up`'s restart (100 ms back-off, then a
        // new process): a restarted unit that says READY before its predecessor is declared
        // dead replaces it without any `grid.unit.dead` event (the broker publishes none then).
        let (clients, units, events) = (freePort(), freePort(), freePort())
        let endpoint = "tcp://127.0.0.1:\(clients)"
        let topology = folder.appendingPathComponent("grid.yaml")
        try """
            grid: tailtest
            broker:
              clients: tcp://127.0.0.1:\(clients)
              units: tcp://127.0.0.1:\(units)
              events: tcp://127.0.0.1:\(events)
              heartbeat: 20ms
              liveness: 3
            sections:
              customer:
                units: 2
                partitions: 31
            """.write(to: topology, atomically: true, encoding: .utf8)
        let upOutput = try start(["up", topology.path, "--run-folder", folder.appendingPathComponent("run").path], output: "up.out")
        XCTAssertTrue(eventually(timeoutSeconds: 60) { read(upOutput).contains("ready in") || !processes[0].isRunning },
                      "spacegrid up did not become ready:\n\(read(upOutput))")
        guard processes[0].isRunning else { return XCTFail("spacegrid up exited:\n\(read(upOutput))") }

        // Nothing listens on a fresh port: tail says so and exits 3.
        let unreachable = try Spacegrid.run(["tail", "--broker", "tcp://127.0.0.1:\(freePort())", "--timeout", "300"], timeoutSeconds: 20)
        XCTAssertEqual(unreachable.status, 3, unreachable.stderr)
        XCTAssertTrue(unreachable.stderr.contains("no answer"), unreachable.stderr)

        let tailOutput = try start(["tail", "--json", "--broker", endpoint], output: "tail.out", errors: "tail.err")
        let tailErrors = folder.appendingPathComponent("tail.err")
        XCTAssertTrue(eventually(timeoutSeconds: 20) { read(tailErrors).contains("tailing 2 units") }, "tail did not start:\n\(read(tailErrors))")

        // A put shows up with its key, a sequence and the version the put reported. The tail's
        // subscriptions reach the units a moment after it starts (PUB/SUB's slow joiner), so a
        // put may be repeated until one is seen; the one seen must match exactly.
        var served: (unit: String, version: Int, change: [String: Any])?
        XCTAssertTrue(try eventually(timeoutSeconds: 30) {
            let put = try Spacegrid.run(["put", "customer", "42", #"{"balance":100}"#, "--json", "--broker", endpoint])
            guard put.status == 0, let reply = try? parse(put.stdout), let version = reply["version"] as? Int, let unit = reply["unit"] as? String else {
                return false
            }
            var seen: [String: Any]?
            _ = eventually(timeoutSeconds: 2) {
                seen = jsonLines(tailOutput).first { $0["type"] as? String == "change" && $0["key"] as? String == "42" && $0["version"] as? Int == version }
                return seen != nil
            }
            guard let seen else { return false }
            served = (unit, version, seen)
            return true
        }, "tail never showed the put:\n\(read(tailOutput))")
        guard let served else { return }
        XCTAssertEqual(served.change["section"] as? String, "customer")
        XCTAssertEqual(served.change["op"] as? String, "put")
        XCTAssertEqual(served.change["value"] as? String, #"{"balance":100}"#)
        XCTAssertGreaterThanOrEqual(served.change["sequence"] as? Int ?? 0, 1)
        let partition = try XCTUnwrap(served.change["partition"] as? Int)
        XCTAssertEqual(partition, Int(FNV1a.hash(Array("42".utf8)) % 31), "the partition the grid's hash gives")
        let epochBefore = try XCTUnwrap(served.change["epoch"] as? Int)

        // kill -9 the unit that served it: tail reports its death and the promotion of its partitions.
        let status = try parse(try Spacegrid.run(["status", "--json", "--broker", endpoint]).stdout)
        let victim = try XCTUnwrap(unitPIDs(status)[served.unit], "no pid for \(served.unit)")
        XCTAssertEqual(kill(victim, SIGKILL), 0)
        XCTAssertTrue(eventually(timeoutSeconds: 20) {
            jsonLines(tailOutput).contains { $0["event"] as? String == "grid.unit.dead" && $0["unit"] as? String == served.unit }
        }, "no grid.unit.dead for \(served.unit):\n\(gridLines(tailOutput))")
        XCTAssertTrue(eventually(timeoutSeconds: 20) {
            jsonLines(tailOutput).contains {
                $0["event"] as? String == "grid.partition.promoted" && $0["partition"] as? Int == partition && $0["previous"] as? String == served.unit
            }
        }, "no grid.partition.promoted for partition \(partition):\n\(gridLines(tailOutput))")

        // A put after the failover shows up too, under the new epoch, from the unit now leading.
        let after = try Spacegrid.run(["put", "customer", "42", #"{"balance":90}"#, "--json", "--broker", endpoint])
        XCTAssertEqual(after.status, 0, after.stderr)
        let version = try XCTUnwrap(try parse(after.stdout)["version"] as? Int)
        XCTAssertGreaterThan(version, served.version)
        XCTAssertTrue(eventually(timeoutSeconds: 20) {
            jsonLines(tailOutput).contains {
                $0["type"] as? String == "change" && $0["key"] as? String == "42" && $0["version"] as? Int == version
                    && ($0["epoch"] as? Int ?? 0) > epochBefore && $0["value"] as? String == #"{"balance":90}"#
            }
        }, "tail did not show the put after the failover:\n\(read(tailOutput))")
        XCTAssertTrue(processes[1].isRunning, "tail kept running through the failover")

        // kill -9 the broker: `up` starts it again; tail notices the new broker and still follows the units.
        let brokerPID = try XCTUnwrap(try parse(try Spacegrid.run(["status", "--json", "--broker", endpoint]).stdout)["broker_pid"] as? Int)
        XCTAssertEqual(kill(Int32(brokerPID), SIGKILL), 0)
        XCTAssertTrue(eventually(timeoutSeconds: 30) {
            jsonLines(tailOutput).contains { $0["event"] as? String == "broker.restarted" && $0["previous"] as? Int == brokerPID }
        }, "tail did not notice the broker restart:\n\(gridLines(tailOutput))")
        var last = version
        XCTAssertTrue(try eventually(timeoutSeconds: 30) {
            let put = try Spacegrid.run(["put", "customer", "42", #"{"balance":80}"#, "--json", "--broker", endpoint])
            guard put.status == 0, let version = try? parse(put.stdout)["version"] as? Int else { return false }
            last = version
            return eventually(timeoutSeconds: 2) {
                jsonLines(tailOutput).contains { $0["key"] as? String == "42" && $0["version"] as? Int == last && $0["value"] as? String == #"{"balance":80}"# }
            }
        }, "tail did not show a put after the broker restart:\n\(read(tailOutput))")
        XCTAssertTrue(processes[1].isRunning, "tail kept running through the broker restart")

        // Ctrl-C stops it cleanly.
        kill(processes[1].processIdentifier, SIGINT)
        XCTAssertTrue(eventually(timeoutSeconds: 10) { !processes[1].isRunning }, "tail did not stop on SIGINT")
        XCTAssertEqual(processes[1].terminationStatus, 0)
    }

    // MARK: - Helpers

    /// Starts `spacegrid ARGUMENTS` with its output in a file of the test folder; remembered for tearDown.
    func start(_ arguments: [String], output: String, errors: String? = nil) throws -> URL {
        let out = folder.appendingPathComponent(output)
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Spacegrid.executable)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: out)
        if let errors {
            let err = folder.appendingPathComponent(errors)
            _ = FileManager.default.createFile(atPath: err.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: err)
        } else {
            process.standardError = process.standardOutput
        }
        try process.run()
        processes.append(process)
        return out
    }

    func read(_ file: URL) -> String { (try? String(contentsOf: file, encoding: .utf8)) ?? "" }

    /// Every complete line of a `tail --json` output, parsed.
    func jsonLines(_ file: URL) -> [[String: Any]] {
        let text = read(file)
        let complete = text.hasSuffix("\n") ? text : String(text[..<(text.lastIndex(of: "\n") ?? text.startIndex)])
        return complete.split(separator: "\n").compactMap { try? parse(String($0)) }
    }

    func gridLines(_ file: URL) -> String {
        read(file).split(separator: "\n").filter { $0.contains(#""type":"grid""#) && !$0.contains("grid.table") }.prefix(40).joined(separator: "\n")
    }

    func parse(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    func unitPIDs(_ status: [String: Any]) -> [String: Int32] {
        var pids: [String: Int32] = [:]
        for section in status["sections"] as? [[String: Any]] ?? [] {
            for unit in section["units"] as? [[String: Any]] ?? [] {
                if let name = unit["name"] as? String, let pid = unit["pid"] as? Int { pids[name] = Int32(pid) }
            }
        }
        return pids
    }

    func change(partition: Int, epoch: UInt64 = 1, sequence: UInt64, key: String = "k", value: String = "{}") -> Change {
        Change(partition: partition, epoch: epoch, sequence: sequence, key: Array(key.utf8), version: sequence, kind: .put, value: Array(value.utf8))
    }

    func event(_ topic: String, _ fields: [String: JSONValue]) -> GridEvent {
        var fields = fields
        fields["event"] = .string(topic)
        if fields["time_ms"] == nil { fields["time_ms"] = .int(0) }
        return GridEvent(topic: topic, fields: fields)
    }
}
