import Foundation
import GridWire
import XCTest

/// The `grid status` reply: JSON with stable snake_case keys.
final class GridStatusTests: XCTestCase {
    private let sample = GridStatus(
        grid: "trading", brokerPid: 77, ready: false, uptimeMs: 12_345, requests: 99, dropped: 2, refused: 3,
        sections: [
            GridStatus.SectionStatus(
                name: "customer", partitioning: "hash", expectedUnits: 2, placed: true, orphans: 1, skew: 1,
                units: [GridStatus.UnitStatus(name: "customer-1", pid: 4242, primaries: 2, backups: 0, requests: 7, lastHeardMs: 15)],
                partitions: [
                    GridStatus.PartitionStatus(partition: 0, primary: "customer-1", backups: ["customer-2"], epoch: 3),
                    GridStatus.PartitionStatus(partition: 1, primary: nil, backups: [], epoch: 2),
                ]),
            GridStatus.SectionStatus(name: "order", partitioning: "range", expectedUnits: 1, placed: false, orphans: 0, skew: 0,
                                     units: [], partitions: []),
        ])

    func testRoundTrip() {
        XCTAssertEqual(GridStatus(decoding: sample.encoded), sample)
        let empty = GridStatus(grid: "", brokerPid: 1, ready: true, uptimeMs: 0, requests: 0, dropped: 0, refused: 0, sections: [])
        XCTAssertEqual(GridStatus(decoding: empty.encoded), empty)
    }

    func testKeysAreSnakeCase() throws {
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(sample.encoded)) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["grid", "broker_pid", "ready", "uptime_ms", "requests", "dropped", "refused", "sections"])
        XCTAssertEqual(object["uptime_ms"] as? Int, 12_345)
        let sections = try XCTUnwrap(object["sections"] as? [[String: Any]])
        XCTAssertEqual(Set(sections[0].keys), ["name", "partitioning", "expected_units", "placed", "orphans", "skew", "units", "partitions"])
        XCTAssertEqual(sections[0]["expected_units"] as? Int, 2)
        let units = try XCTUnwrap(sections[0]["units"] as? [[String: Any]])
        XCTAssertEqual(Set(units[0].keys), ["name", "pid", "primaries", "backups", "requests", "last_heard_ms"])
        XCTAssertEqual(units[0]["last_heard_ms"] as? Int, 15)
        let partitions = try XCTUnwrap(sections[0]["partitions"] as? [[String: Any]])
        XCTAssertEqual(Set(partitions[0].keys), ["partition", "primary", "backups", "epoch"])
        XCTAssertNil(partitions[1]["primary"], "no primary: the key is left out")
    }

    func testEncodingIsSortedAndStable() {
        let text = String(decoding: sample.encoded, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix(#"{"broker_pid":77,"dropped":2,"grid":"trading","ready":false,"refused":3,"requests":99,"sections":["#), text)
        XCTAssertTrue(text.hasSuffix(#"],"uptime_ms":12345}"#), text)
        XCTAssertEqual(sample.encoded, sample.encoded)
    }

    func testDecodesWhatAnotherClientWouldWrite() {
        let json = #"""
            {"grid":"g","broker_pid":9,"ready":true,"uptime_ms":1,"requests":2,"dropped":3,"refused":4,"sections":[
              {"name":"s","partitioning":"hash","expected_units":1,"placed":true,"orphans":0,"skew":0,
               "units":[{"name":"u","pid":1,"primaries":1,"backups":0,"requests":0,"last_heard_ms":5}],
               "partitions":[{"partition":0,"primary":null,"backups":[],"epoch":1}]}]}
            """#
        let status = GridStatus(decoding: Array(json.utf8))
        XCTAssertEqual(status?.uptimeMs, 1)
        XCTAssertEqual(status?.sections.first?.expectedUnits, 1)
        XCTAssertEqual(status?.sections.first?.units.first?.lastHeardMs, 5)
        XCTAssertNil(status?.sections.first?.partitions.first?.primary)
    }

    func testRefusesOtherJSON() {
        XCTAssertNil(GridStatus(decoding: []))
        XCTAssertNil(GridStatus(decoding: Array("pong".utf8)))
        XCTAssertNil(GridStatus(decoding: Array(#"{"grid":"g","ready":true,"uptimeMs":1,"requests":2,"dropped":3,"refused":4,"sections":[]}"#.utf8)),
                     "camelCase keys are not the wire format")
    }
}
