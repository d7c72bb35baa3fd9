import GridCore
import GridWire
import XCTest

/// Byte-level pins of every broker <-> unit frame layout (PROTOCOL.md, "Units").
final class UnitWireGoldenTests: XCTestCase {
    private func assertGolden(_ message: UnitMessage, _ expected: [[UInt8]], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(message.frames, expected, file: file, line: line)
        XCTAssertEqual(UnitMessage.decode(expected[...]), .success(message), "decoding the golden frames", file: file, line: line)
        XCTAssertEqual(UnitMessage.decode(message.frames[...]), .success(message), "decode(encode(x)) == x", file: file, line: line)
    }

    private static let publisher1 = "tcp://127.0.0.1:40001"
    private static let replication1 = "tcp://127.0.0.1:40002"

    func testHeaderAndCommandBytes() {
        XCTAssertEqual(UnitMessage.header, hex("4d 44 50 57 30 31"))
        XCTAssertEqual(UnitMessage.Command.ready.rawValue, 0x01)
        XCTAssertEqual(UnitMessage.Command.request.rawValue, 0x02)
        XCTAssertEqual(UnitMessage.Command.reply.rawValue, 0x03)
        XCTAssertEqual(UnitMessage.Command.heartbeat.rawValue, 0x04)
        XCTAssertEqual(UnitMessage.Command.disconnect.rawValue, 0x05)
        XCTAssertEqual(UnitMessage.Command.assign.rawValue, 0x10)
        XCTAssertEqual(UnitMessage.Command.report.rawValue, 0x11)
        XCTAssertEqual(Role.primary.rawValue, 1)
        XCTAssertEqual(Role.backup.rawValue, 2)
    }

    // MARK: - READY

    func testReadyOfAFreshUnit() {
        let report = UnitReport(operations: ["get", "put"], pid: 4242, publisher: Self.publisher1, replication: Self.replication1)
        assertGolden(.ready(section: "customer", unit: "customer-1", report: report), [
            [],
            hex("4d 44 50 57 30 31"),                      // MDPW01
            hex("01"),                                     // READY
            hex("63 75 73 74 6f 6d 65 72"),                // customer
            hex("63 75 73 74 6f 6d 65 72 2d 31"),          // customer-1
            // {"holdings":[],"operations":["get","put"],"pid":4242,"publisher":"tcp:\/\/127.0.0.1:40001",
            //  "replication":"tcp:\/\/127.0.0.1:40002","wire":2}
            hex("""
                7b 22 68 6f 6c 64 69 6e 67 73 22 3a 5b 5d 2c
                22 6f 70 65 72 61 74 69 6f 6e 73 22 3a 5b 22 67 65 74 22 2c 22 70 75 74 22 5d 2c
                22 70 69 64 22 3a 34 32 34 32 2c
                22 70 75 62 6c 69 73 68 65 72 22 3a 22 74 63 70 3a 5c 2f 5c 2f 31 32 37 2e 30 2e 30 2e 31 3a 34 30 30 30 31 22 2c
                22 72 65 70 6c 69 63 61 74 69 6f 6e 22 3a 22 74 63 70 3a 5c 2f 5c 2f 31 32 37 2e 30 2e 30 2e 31 3a 34 30 30 30 32 22 2c
                22 77 69 72 65 22 3a 32 7d
                """),
        ])
    }

    func testReadyReportWithHoldings() {
        // A unit coming back (broker restart, or a pause) lists what it holds:
        // [partition, role (1 primary, 2 backup), epoch, sequence, in sync].
        let report = UnitReport(
            operations: ["get", "put", "del", "cas"], pid: -1, publisher: "tcp://h:1", replication: "tcp://h:2",
            holdings: [
                ReportRecord(holding: Holding(partition: 3, role: .primary, epoch: 2, sequence: 17, inSync: true)),
                ReportRecord(holding: Holding(partition: 150, role: .backup, epoch: 4, sequence: 9, inSync: false)),
            ])
        XCTAssertEqual(report.encoded, bytes(
            #"{"holdings":[[3,1,2,17,true],[150,2,4,9,false]],"operations":["get","put","del","cas"],"pid":-1,"# +
            #""publisher":"tcp:\/\/h:1","replication":"tcp:\/\/h:2","wire":2}"#))
        XCTAssertEqual(UnitReport(decoding: report.encoded), report)
        XCTAssertEqual(UnitReport.currentWire, 2)
        XCTAssertEqual(report.wire, 2, "the current version unless told otherwise")
    }

    func testReadyHoldingsCarryNoLag() {
        // The JSON form has no lag fields: a record with lag comes back without it.
        let record = ReportRecord(holding: Holding(partition: 1, role: .primary, epoch: 1, sequence: 5, inSync: true),
                                  behind: 3, unacknowledgedMilliseconds: 40)
        let report = UnitReport(operations: [], pid: 1, holdings: [record])
        XCTAssertEqual(report.encoded, bytes(#"{"holdings":[[1,1,1,5,true]],"operations":[],"pid":1,"publisher":"","replication":"","wire":2}"#))
        XCTAssertEqual(UnitReport(decoding: report.encoded)?.holdings, [ReportRecord(holding: record.holding)])
    }

    func testReadyReportReaderIgnoresLayoutAndUnknownFields() {
        // Whitespace, key order and unknown fields do not matter to the reader; `wire` is read, not checked.
        let text = #" { "wire" : 1, "replication":"r", "pid" : 7, "holdings":[ [0, 2, 1, 0, false] ], "publisher":"p", "operations" : ["get"], "extra": true } "#
        XCTAssertEqual(UnitReport(decoding: bytes(text)), UnitReport(
            operations: ["get"], pid: 7, publisher: "p", replication: "r",
            holdings: [ReportRecord(holding: Holding(partition: 0, role: .backup, epoch: 1, sequence: 0, inSync: false))], wire: 1))
        // Slashes need no escaping on input.
        XCTAssertEqual(UnitReport(decoding: bytes(#"{"holdings":[],"operations":[],"pid":0,"publisher":"tcp://a:1","replication":"","wire":2}"#))?.publisher,
                       "tcp://a:1")
    }

    // MARK: - REQUEST, REPLY, HEARTBEAT, DISCONNECT

    func testRequest() {
        let message = UnitMessage.request(
            client: hex("00 6b 8b 45 67"), envelope: hex("02 00 00 00 00 00 00 00 07"),
            route: Route(partition: 150, epoch: 3), operation: bytes("get"), key: bytes("42"), arguments: [])
        assertGolden(message, [
            [],
            hex("4d 44 50 57 30 31"),                       // MDPW01
            hex("02"),                                      // REQUEST
            hex("00 6b 8b 45 67"),                          // client routing id
            [],                                             // empty
            hex("02 00 00 00 00 00 00 00 07"),              // client envelope (opaque)
            hex("00 00 00 96  00 00 00 00 00 00 00 03"),    // route: partition u32, epoch u64
            hex("67 65 74"),                                // get
            hex("34 32"),                                   // 42
        ])
    }

    func testRequestWithArgumentsAndWideRoute() {
        let message = UnitMessage.request(
            client: [], envelope: [], route: Route(partition: 0xfedc_ba98, epoch: 0x1122_3344_5566_7788),
            operation: bytes("cas"), key: [], arguments: [bytes("7"), [], bytes("v1")])
        assertGolden(message, [
            [], hex("4d 44 50 57 30 31"), hex("02"), [], [], [],
            hex("fe dc ba 98  11 22 33 44 55 66 77 88"),
            hex("63 61 73"), [], hex("37"), [], hex("76 31"),
        ])
    }

    func testReply() {
        let message = UnitMessage.reply(
            client: hex("00 6b 8b 45 67"), envelope: hex("01 63 75 73 74 6f 6d 65 72"), status: .conflict,
            payload: bytes("{}"), meta: hex("00 00 00 00 00 00 00 02 63 2d 31"))
        assertGolden(message, [
            [],
            hex("4d 44 50 57 30 31"),                       // MDPW01
            hex("03"),                                      // REPLY
            hex("00 6b 8b 45 67"),                          // client routing id
            [],                                             // empty
            hex("01 63 75 73 74 6f 6d 65 72"),              // client envelope, echoed
            hex("34 30 39"),                                // 409
            hex("7b 7d"),                                   // payload
            hex("00 00 00 00 00 00 00 02 63 2d 31"),        // meta: version 2, unit "c-1"
        ])
    }

    func testAStaleEpochReplyIs421() {
        let error = GridError.staleEpoch(partition: 3, epoch: 1, current: 2)
        let message = UnitMessage.reply(client: hex("aa"), envelope: hex("02 01"), status: error.status, payload: error.payload, meta: [])
        XCTAssertEqual(message.frames[6], hex("34 32 31"))
        XCTAssertEqual(message.frames[7], bytes(
            #"{"code":"stale_epoch","message":"partition 3 at epoch 1 is not led here (this unit holds epoch 2)"}"#))
        XCTAssertEqual(UnitMessage.decode(message.frames[...]), .success(message))
    }

    func testHeartbeatAndDisconnect() {
        assertGolden(.heartbeat, [[], hex("4d 44 50 57 30 31"), hex("04")])
        assertGolden(.disconnect, [[], hex("4d 44 50 57 30 31"), hex("05")])
    }

    // MARK: - ASSIGN

    func testAssign() {
        let body = AssignBody(
            assignments: [
                Assignment(lease: Lease(partition: 1, epoch: 2, role: .primary), primary: "customer-1", backups: ["customer-2"]),
                Assignment(lease: Lease(partition: 271, epoch: 0x0102_0304_0506_0708, role: .backup), primary: "customer-2", backups: ["customer-1", "customer-3"]),
            ],
            peers: [
                "customer-2": AssignBody.Peer(publisher: "tcp://h:3", replication: "tcp://h:4"),
                "customer-1": AssignBody.Peer(publisher: "tcp://h:1", replication: "tcp://h:2"),
            ])
        let json = #"{"assignments":[{"backups":["customer-2"],"epoch":2,"partition":1,"primary":"customer-1","role":"primary"},"#
            + #"{"backups":["customer-1","customer-3"],"epoch":72623859790382856,"partition":271,"primary":"customer-2","role":"backup"}],"#
            + #""peers":{"customer-1":{"publisher":"tcp:\/\/h:1","replication":"tcp:\/\/h:2"},"#
            + #""customer-2":{"publisher":"tcp:\/\/h:3","replication":"tcp:\/\/h:4"}}}"#
        XCTAssertEqual(body.encoded, bytes(json))
        assertGolden(.assign(body), [[], hex("4d 44 50 57 30 31"), hex("10"), bytes(json)])
        XCTAssertEqual(body.coreAssignments, [
            Assignment(lease: Lease(partition: 1, epoch: 2, role: .primary), primary: "customer-1", backups: ["customer-2"]),
            Assignment(lease: Lease(partition: 271, epoch: 0x0102_0304_0506_0708, role: .backup), primary: "customer-2", backups: ["customer-1", "customer-3"]),
        ])
        XCTAssertEqual(body.assignments.map(\.role), ["primary", "backup"])
    }

    func testAssignWithNoLeases() {
        let body = AssignBody(assignments: [], peers: [:])
        assertGolden(.assign(body), [[], hex("4d 44 50 57 30 31"), hex("10"), bytes(#"{"assignments":[],"peers":{}}"#)])
        XCTAssertEqual(body.coreAssignments, [])
    }

    func testAssignReaderIgnoresLayoutAndUnknownFields() {
        let text = #" { "peers" : { }, "assignments" : [ { "role" : "backup", "primary" : "a", "partition" : 9, "epoch" : 4, "backups" : [ "b" ], "x" : 1 } ], "y": null } "#
        XCTAssertEqual(AssignBody(decoding: bytes(text))?.coreAssignments,
                       [Assignment(lease: Lease(partition: 9, epoch: 4, role: .backup), primary: "a", backups: ["b"])])
    }

    // MARK: - REPORT

    func testReport() {
        let message = UnitMessage.report(records: [
            ReportRecord(holding: Holding(partition: 1, role: .primary, epoch: 2, sequence: 0x0102_0304_0506_0708, inSync: true),
                         behind: 3, unacknowledgedMilliseconds: 250),
            ReportRecord(holding: Holding(partition: 0x0001_0203, role: .backup, epoch: 7, sequence: 9, inSync: false)),
        ], fenced: 0x0102)
        assertGolden(message, [
            [], hex("4d 44 50 57 30 31"), hex("11"),
            hex("""
                00 00 00 01  01  00 00 00 00 00 00 00 02  01 02 03 04 05 06 07 08  01  00 00 00 00 00 00 00 03  00 00 00 fa
                00 01 02 03  02  00 00 00 00 00 00 00 07  00 00 00 00 00 00 00 09  00  00 00 00 00 00 00 00 00  00 00 00 00
                """),
            hex("00 00 00 00 00 00 01 02"),
        ])
        XCTAssertEqual(message.frames[3].count, 2 * 34, "34 bytes a record")
    }

    func testReportWhileLoadingCarriesTheEntriesLoaded() {
        assertGolden(.report(records: [], fenced: 1, loading: 0x0102_0304), [
            [], hex("4d 44 50 57 30 31"), hex("11"), [], hex("00 00 00 00 00 00 00 01"), hex("00 00 00 00 01 02 03 04"),
        ])
        // Loading from zero entries is still loading: the frame is there.
        assertGolden(.report(records: [], loading: 0), [
            [], hex("4d 44 50 57 30 31"), hex("11"), [], hex("00 00 00 00 00 00 00 00"), hex("00 00 00 00 00 00 00 00"),
        ])
        let badLoading = [[], Golden.mdpw01, hex("11"), [], hex("00 00 00 00 00 00 00 00"), hex("01")]
        guard case .failure = UnitMessage.decode(badLoading[...]) else { return XCTFail("accepted a 1-byte loading count") }
    }

    func testReportWithNothingHeldIsAnEmptyRecordFrame() {
        assertGolden(.report(records: []), [[], hex("4d 44 50 57 30 31"), hex("11"), [], hex("00 00 00 00 00 00 00 00")])
    }

    func testReportWithABadFencedFrameIsRefused() {
        let frames = [[], Golden.mdpw01, hex("11"), [], hex("00 01")]
        guard case .failure(let error) = UnitMessage.decode(frames[...]) else { return XCTFail("accepted a 2-byte fenced count") }
        XCTAssertEqual(error.code, "malformed")
    }

    func testReportReadsAnyNonZeroInSyncByteAsTrue() {
        let frames = [[], Golden.mdpw01, hex("11"),
                      hex("00 00 00 05 02 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 02 07 00 00 00 00 00 00 00 00 00 00 00 00")]
        XCTAssertEqual(UnitMessage.decode(frames[...]), .success(.report(records: [
            ReportRecord(holding: Holding(partition: 5, role: .backup, epoch: 1, sequence: 2, inSync: true)),
        ])))
    }

    // MARK: - Misc

    func testCommandProperty() {
        XCTAssertEqual(UnitMessage.heartbeat.command, .heartbeat)
        XCTAssertEqual(UnitMessage.disconnect.command, .disconnect)
        XCTAssertEqual(UnitMessage.assign(AssignBody(assignments: [], peers: [:])).command, .assign)
        XCTAssertEqual(UnitMessage.report(records: []).command, .report)
        XCTAssertEqual(UnitMessage.ready(section: "s", unit: "u", report: UnitReport(operations: [], pid: 0)).command, .ready)
        XCTAssertEqual(UnitMessage.reply(client: [], envelope: [], status: .ok, payload: [], meta: []).command, .reply)
        XCTAssertEqual(UnitMessage.request(client: [], envelope: [], route: Route(partition: 0, epoch: 0), operation: [], key: [], arguments: []).command, .request)
    }

    func testDecodingASliceThatDoesNotStartAtZero() {
        let frames: [[UInt8]] = [hex("00 6b 8b 45 67"), [], Golden.mdpw01, hex("04")]
        XCTAssertEqual(UnitMessage.decode(frames[1...]), .success(.heartbeat))
        let report: [[UInt8]] = [hex("aa"), [], Golden.mdpw01, hex("11"),
                                 hex("00 00 00 05 01 00 00 00 00 00 00 00 09 00 00 00 00 00 00 00 01 01 00 00 00 00 00 00 00 00 00 00 00 00")]
        XCTAssertEqual(UnitMessage.decode(report[1...]), .success(.report(records: [
            ReportRecord(holding: Holding(partition: 5, role: .primary, epoch: 9, sequence: 1, inSync: true)),
        ])))
    }
}
