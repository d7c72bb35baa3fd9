import Foundation
import GridWire
import XCTest

/// The `grid status` reply: JSON with stable snake_case keys.
final class GridStatusTests: XCTestCase {
    private let sample = GridStatus(
        grid: "trading", brokerPid: 77, ready: false, uptimeMs: 12_345, requests: 99, dropped: 2, refused: 3,
        promotions: 4, events: "tcp://127.0.0.1:5557",
        sections: [
            GridStatus.SectionStatus(
                name: "customer", partitioning: "hash", mode: "async", expectedUnits: 2, placed: true, orphans: 1, skew: 1,
                units: [GridStatus.UnitStatus(name: "customer-1", pid: 4242, primaries: 2, backups: 0, requests: 7, lastHeardMs: 15,
                                              publisher: "tcp://127.0.0.1:40001")],
                partitions: [
                    {
                        var partition = GridStatus.PartitionStatus(partition: 0, primary: "customer-1", backups: ["customer-2", "customer-3"], epoch: 3,
                                                                   sequence: 120, behind: 6, unackedMs: 45)
                        partition.inSync = ["customer-2"]
                        return partition
                    }(),
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
        XCTAssertEqual(Set(object.keys), [
            "grid", "broker_pid", "ready", "uptime_ms", "requests", "dropped", "refused", "promotions", "events", "sections",
        ])
        XCTAssertEqual(object["uptime_ms"] as? Int, 12_345)
        XCTAssertEqual(object["broker_pid"] as? Int, 77)
        XCTAssertEqual(object["promotions"] as? Int, 4)
        XCTAssertEqual(object["events"] as? String, "tcp://127.0.0.1:5557")
        let sections = try XCTUnwrap(object["sections"] as? [[String: Any]])
        XCTAssertEqual(Set(sections[0].keys), ["name", "partitioning", "mode", "expected_units", "placed", "orphans", "skew", "units", "partitions"])
        XCTAssertEqual(sections[0]["expected_units"] as? Int, 2)
        XCTAssertEqual(sections[0]["mode"] as? String, "async")
        XCTAssertEqual(sections[1]["mode"] as? String, "sync", "sync unless told otherwise")
        let units = try XCTUnwrap(sections[0]["units"] as? [[String: Any]])
        XCTAssertEqual(Set(units[0].keys), ["name", "pid", "primaries", "backups", "requests", "last_heard_ms", "publisher", "fenced", "replication", "clients"],
                       "`loading` is left out unless a cold start is under way")
        XCTAssertEqual(units[0]["last_heard_ms"] as? Int, 15)
        XCTAssertEqual(units[0]["publisher"] as? String, "tcp://127.0.0.1:40001")
        let partitions = try XCTUnwrap(sections[0]["partitions"] as? [[String: Any]])
        XCTAssertEqual(Set(partitions[0].keys), ["partition", "primary", "backups", "in_sync", "epoch", "sequence", "behind", "unacked_ms"])
        XCTAssertEqual(partitions[0]["in_sync"] as? [String], ["customer-2"])
        XCTAssertEqual(partitions[0]["backups"] as? [String], ["customer-2", "customer-3"])
        XCTAssertEqual(partitions[0]["sequence"] as? Int, 120)
        XCTAssertEqual(partitions[0]["behind"] as? Int, 6)
        XCTAssertEqual(partitions[0]["unacked_ms"] as? Int, 45)
        XCTAssertEqual(Set(partitions[1].keys), ["partition", "backups", "in_sync", "epoch", "sequence", "behind", "unacked_ms"],
                       "in_sync is always written, empty when no backup is in sync")
        XCTAssertEqual(partitions[1]["in_sync"] as? [String], [])
        XCTAssertNil(partitions[1]["primary"], "no primary: the key is left out")
        XCTAssertEqual(partitions[1]["behind"] as? Int, 0)
    }

    func testEncodingIsSortedAndStable() {
        let text = String(decoding: sample.encoded, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix(
            #"{"broker_pid":77,"dropped":2,"events":"tcp:\/\/127.0.0.1:5557","grid":"trading","promotions":4,"ready":false,"refused":3,"requests":99,"#
            + #""sections":[{"expected_units":2,"mode":"async","name":"customer","orphans":1,"partitioning":"hash","#
            + #""partitions":[{"backups":["customer-2","customer-3"],"behind":6,"epoch":3,"in_sync":["customer-2"],"partition":0,"primary":"customer-1","sequence":120,"unacked_ms":45},"#
            + #"{"backups":[],"behind":0,"epoch":2,"in_sync":[],"partition":1,"sequence":0,"unacked_ms":0}],"placed":true,"skew":1,"#
            + #""units":[{"backups":0,"clients":"","fenced":0,"last_heard_ms":15,"name":"customer-1","pid":4242,"primaries":2,"publisher":"tcp:\/\/127.0.0.1:40001","replication":"","requests":7}]},"#), text)
        XCTAssertTrue(text.hasSuffix(#"],"uptime_ms":12345}"#), text)
        XCTAssertEqual(sample.encoded, sample.encoded)
    }

    func testDecodesWhatAnotherClientWouldWrite() {
        let json = #"""
            {"grid":"g","broker_pid":9,"ready":true,"uptime_ms":1,"requests":2,"dropped":3,"refused":4,"promotions":5,"events":"tcp://e:1","sections":[
              {"name":"s","partitioning":"hash","mode":"sync","expected_units":1,"placed":true,"orphans":0,"skew":0,
               "units":[{"name":"u","pid":1,"primaries":1,"backups":0,"requests":0,"last_heard_ms":5,"publisher":"tcp://u:1"}],
               "partitions":[{"partition":0,"primary":null,"backups":[],"epoch":1,"sequence":8,"behind":2,"unacked_ms":30}]}]}
            """#
        let status = GridStatus(decoding: Array(json.utf8))
        XCTAssertEqual(status?.uptimeMs, 1)
        XCTAssertEqual(status?.sections.first?.expectedUnits, 1)
        XCTAssertEqual(status?.sections.first?.units.first?.lastHeardMs, 5)
        XCTAssertNil(status?.sections.first?.partitions.first?.primary)
        XCTAssertEqual(status?.promotions, 5)
        XCTAssertEqual(status?.events, "tcp://e:1")
        XCTAssertEqual(status?.sections.first?.mode, "sync")
        XCTAssertEqual(status?.sections.first?.units.first?.publisher, "tcp://u:1")
        XCTAssertEqual(status?.sections.first?.partitions.first?.sequence, 8)
        XCTAssertEqual(status?.sections.first?.partitions.first?.behind, 2)
        XCTAssertEqual(status?.sections.first?.partitions.first?.unackedMs, 30)
        XCTAssertEqual(status?.sections.first?.units.first?.fenced, 0, "an older broker's status has no fencing count")
        XCTAssertEqual(status?.sections.first?.partitions.first?.inSync, [], "an older broker's status has no in-sync list")
    }

    func testPartitionsInSyncRoundTrips() {
        XCTAssertEqual(GridStatus(decoding: sample.encoded)?.sections[0].partitions.map(\.inSync), [["customer-2"], []])
        let json = #"{"partition":4,"primary":"a","backups":["b","c"],"in_sync":["c","b"],"epoch":1,"sequence":2,"behind":0,"unacked_ms":0}"#
        let partition = try? JSONDecoder().decode(GridStatus.PartitionStatus.self, from: Data(json.utf8))
        XCTAssertEqual(partition?.inSync, ["c", "b"], "the order is kept")
        XCTAssertEqual(partition?.backups, ["b", "c"])
    }

    func testAnOlderPartitionStatusWithoutInSyncStillDecodes() {
        let json = #"{"partition":4,"primary":"a","backups":["b"],"epoch":1,"sequence":2,"behind":3,"unacked_ms":5}"#
        let partition = try? JSONDecoder().decode(GridStatus.PartitionStatus.self, from: Data(json.utf8))
        var expected = GridStatus.PartitionStatus(partition: 4, primary: "a", backups: ["b"], epoch: 1, sequence: 2, behind: 3, unackedMs: 5)
        expected.inSync = []
        XCTAssertEqual(partition, expected)
        // The other fields are still needed, and in_sync must be a list of names when present.
        for broken in [
            #"{"partition":4,"backups":["b"],"epoch":1,"sequence":2,"behind":3}"#,
            #"{"partition":4,"backups":["b"],"in_sync":"b","epoch":1,"sequence":2,"behind":3,"unacked_ms":5}"#,
            #"{"partition":4,"backups":["b"],"in_sync":[1],"epoch":1,"sequence":2,"behind":3,"unacked_ms":5}"#,
            #"{"partition":4,"backups":["b"],"inSync":["b"],"epoch":1,"sequence":2,"behind":3}"#,
        ] {
            XCTAssertNil(try? JSONDecoder().decode(GridStatus.PartitionStatus.self, from: Data(broken.utf8)), broken)
        }
        // A null in_sync reads as none, as a missing one does.
        let null = #"{"partition":4,"backups":[],"in_sync":null,"epoch":1,"sequence":2,"behind":3,"unacked_ms":5}"#
        XCTAssertEqual((try? JSONDecoder().decode(GridStatus.PartitionStatus.self, from: Data(null.utf8)))?.inSync, [])
    }

    func testRefusesOtherJSON() {
        XCTAssertNil(GridStatus(decoding: []))
        XCTAssertNil(GridStatus(decoding: Array("pong".utf8)))
        XCTAssertNil(GridStatus(decoding: Array(#"{"grid":"g","brokerPid":1,"ready":true,"uptimeMs":1,"requests":2,"dropped":3,"refused":4,"promotions":0,"events":"","sections":[]}"#.utf8)),
                     "camelCase keys are not the wire format")
        XCTAssertNil(GridStatus(decoding: Array(#"{"grid":"g","broker_pid":1,"ready":true,"uptime_ms":1,"requests":2,"dropped":3,"refused":4,"sections":[]}"#.utf8)),
                     "a status without promotions and events is from another version")
    }
}
