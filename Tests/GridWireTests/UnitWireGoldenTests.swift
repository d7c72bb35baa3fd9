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
        let report = UnitReport(operations: ["get", "put"], pid: 4242, publisher: Self.publisher1, replication: Self.replication1,
                                incarnation: 0x0012_3456_789a_bcde, stamp: 1_700_000_000_123)
        assertGolden(.ready(section: "customer", unit: "customer-1", report: report), [
            [],
            hex("4d 44 50 57 30 31"),                      // MDPW01
            hex("01"),                                     // READY
            hex("63 75 73 74 6f 6d 65 72"),                // customer
            hex("63 75 73 74 6f 6d 65 72 2d 31"),          // customer-1
            hex("""
                7b 22 68 6f 6c 64 69 6e 67 73 22 3a 5b 5d 2c
                22 69 6e 63 61 72 6e 61 74 69 6f 6e 22 3a 35 31 32 34 30 39 35 35 37 36 30 33 30 34 33 30 2c
                22 6f 70 65 72 61 74 69 6f 6e 73 22 3a 5b 22 67 65 74 22 2c 22 70 75 74 22 5d 2c
                22 70 69 64 22 3a 34 32 34 32 2c
                22 70 75 62 6c 69 73 68 65 72 22 3a 22 74 63 70 3a 5c 2f 5c 2f 31 32 37 2e 30 2e 30 2e 31 3a 34 30 30 30 31 22 2c
                22 72 65 70 6c 69 63 61 74 69 6f 6e 22 3a 22 74 63 70 3a 5c 2f 5c 2f 31 32 37 2e 30 2e 30 2e 31 3a 34 30 30 30 32 22 2c
                22 73 74 61 6d 70 22 3a 31 37 30 30 30 30 30 30 30 30 31 32 33 2c
                22 77 69 72 65 22 3a 33 7d
                """),
            // {"holdings":[],"incarnation":5124095576030430,"operations":["get","put"],"pid":4242,
            //  "publisher":"tcp:\/\/127.0.0.1:40001","replication":"tcp:\/\/127.0.0.1:40002","stamp":1700000000123,"wire":3}
        ])
    }

    func testReadyReportWithHoldings() {
        // A unit coming back (broker restart, or a pause) lists what it holds:
        // [partition, role (1 primary, 2 backup), epoch, sequence, in sync, in-sync backups (names)].
        let report = UnitReport(
            operations: ["get", "put", "del", "cas"], pid: -1, publisher: "tcp://h:1", replication: "tcp://h:2",
            holdings: [
                ReportRecord(holding: Holding(partition: 3, role: .primary, epoch: 2, sequence: 17, inSync: true, inSyncBackups: ["customer-2"])),
                ReportRecord(holding: Holding(partition: 150, role: .backup, epoch: 4, sequence: 9, inSync: false)),
            ], incarnation: 77, stamp: 5)
        XCTAssertEqual(report.encoded, bytes(
            #"{"holdings":[[3,1,2,17,true,["customer-2"]],[150,2,4,9,false,[]]],"incarnation":77,"operations":["get","put","del","cas"],"pid":-1,"# +
            #""publisher":"tcp:\/\/h:1","replication":"tcp:\/\/h:2","stamp":5,"wire":3}"#))
        XCTAssertEqual(UnitReport(decoding: report.encoded), report)
        XCTAssertEqual(UnitReport.currentWire, 3)
        XCTAssertEqual(report.wire, 3, "the current version unless told otherwise")
        XCTAssertEqual(report.clients, nil)
    }

    func testReadyReportWithADirectClientEndpoint() {
        let report = UnitReport(operations: [], pid: 1, publisher: "p", replication: "r", clients: "tcp://h:5", incarnation: 1, stamp: 2)
        XCTAssertEqual(report.encoded, bytes(
            #"{"clients":"tcp:\/\/h:5","holdings":[],"incarnation":1,"operations":[],"pid":1,"publisher":"p","replication":"r","stamp":2,"wire":3}"#))
        XCTAssertEqual(UnitReport(decoding: report.encoded), report)
    }

    func testReadyHoldingsOfFiveElementsAreStillRead() {
        // A holding without the in-sync backups list (the wire 2 form): no names.
        let text = #"{"holdings":[[3,1,2,17,true],[150,2,4,9,false,[]],[4,1,1,1,true,["a","b"]]],"incarnation":9,"operations":[],"pid":1,"# +
            #""publisher":"","replication":"","stamp":8,"wire":3}"#
        XCTAssertEqual(UnitReport(decoding: bytes(text))?.holdings.map(\.holding), [
            Holding(partition: 3, role: .primary, epoch: 2, sequence: 17, inSync: true, inSyncBackups: []),
            Holding(partition: 150, role: .backup, epoch: 4, sequence: 9, inSync: false, inSyncBackups: []),
            Holding(partition: 4, role: .primary, epoch: 1, sequence: 1, inSync: true, inSyncBackups: ["a", "b"]),
        ])
        XCTAssertEqual(UnitReport(decoding: bytes(text))?.incarnation, 9)
        XCTAssertEqual(UnitReport(decoding: bytes(text))?.stamp, 8)
    }

    func testReadyHoldingsCarryNoLagAndNoMask() {
        // The JSON form has no lag or mask fields: a record with them comes back without them.
        let record = ReportRecord(holding: Holding(partition: 1, role: .primary, epoch: 1, sequence: 5, inSync: true),
                                  inSyncMask: 3, behind: 3, unacknowledgedMilliseconds: 40)
        let report = UnitReport(operations: [], pid: 1, holdings: [record])
        XCTAssertEqual(report.encoded, bytes(
            #"{"holdings":[[1,1,1,5,true,[]]],"incarnation":0,"operations":[],"pid":1,"publisher":"","replication":"","stamp":0,"wire":3}"#))
        XCTAssertEqual(UnitReport(decoding: report.encoded)?.holdings, [ReportRecord(holding: record.holding)])
    }

    func testReadyIncarnationsUpTo2To53AreExact() {
        let report = UnitReport(operations: [], pid: 1, incarnation: (1 << 53) - 1, stamp: .max)
        XCTAssertTrue(String(decoding: report.encoded, as: UTF8.self).contains(#""incarnation":9007199254740991"#))
        XCTAssertEqual(UnitReport(decoding: report.encoded), report)
    }

    func testReadyReportReaderIgnoresLayoutAndUnknownFields() {
        // Whitespace, key order and unknown fields do not matter to the reader; `wire` is read, not checked.
        let text = #" { "wire" : 1, "stamp": 3, "replication":"r", "pid" : 7, "holdings":[ [0, 2, 1, 0, false] ], "incarnation" : 12, "publisher":"p", "operations" : ["get"], "extra": true } "#
        XCTAssertEqual(UnitReport(decoding: bytes(text)), UnitReport(
            operations: ["get"], pid: 7, publisher: "p", replication: "r",
            holdings: [ReportRecord(holding: Holding(partition: 0, role: .backup, epoch: 1, sequence: 0, inSync: false))],
            incarnation: 12, stamp: 3, wire: 1))
        // Slashes need no escaping on input.
        XCTAssertEqual(UnitReport(decoding: bytes(
            #"{"holdings":[],"incarnation":0,"operations":[],"pid":0,"publisher":"tcp://a:1","replication":"","stamp":0,"wire":3}"#))?.publisher,
                       "tcp://a:1")
    }

    // MARK: - REQUEST, REPLY, HEARTBEAT, DISCONNECT

    func testRequest() {
        let message = UnitMessage.request(
            client: hex("00 6b 8b 45 67"), envelope: hex("00 00 00 00 00 00 00 2a"),
            route: Route(partition: 150, epoch: 3), requestID: Golden.rid, operation: bytes("get"), key: bytes("42"), arguments: [])
        assertGolden(message, [
            [],
            hex("4d 44 50 57 30 31"),                       // MDPW01
            hex("02"),                                      // REQUEST
            hex("00 6b 8b 45 67"),                          // client routing id
            [],                                             // empty
            hex("00 00 00 00 00 00 00 2a"),                 // envelope: the broker's request number (opaque to the unit)
            hex("00 00 00 96  00 00 00 00 00 00 00 03"),    // route: partition u32, epoch u64
            hex("00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03  61 70 70 2d 31"), // request id: sequence 5, floor 3, "app-1"
            hex("67 65 74"),                                // get
            hex("34 32"),                                   // 42
        ])
    }

    func testRequestWithoutARequestIDHasAnEmptyFrame() {
        // An MDP client may send no request id: the frame is there, empty.
        let message = UnitMessage.request(
            client: [], envelope: [], route: Route(partition: 0xfedc_ba98, epoch: 0x1122_3344_5566_7788),
            requestID: [], operation: bytes("cas"), key: [], arguments: [bytes("7"), [], bytes("v1")])
        assertGolden(message, [
            [], hex("4d 44 50 57 30 31"), hex("02"), [], [], [],
            hex("fe dc ba 98  11 22 33 44 55 66 77 88"),
            [],                                             // no request id
            hex("63 61 73"), [], hex("37"), [], hex("76 31"),
        ])
    }

    func testReply() {
        let message = UnitMessage.reply(
            client: hex("00 6b 8b 45 67"), envelope: hex("00 00 00 00 00 00 00 2a"), status: .conflict,
            payload: bytes("{}"), meta: hex("00 00 00 00 00 00 00 02 63 2d 31"))
        assertGolden(message, [
            [],
            hex("4d 44 50 57 30 31"),                       // MDPW01
            hex("03"),                                      // REPLY
            hex("00 6b 8b 45 67"),                          // client routing id
            [],                                             // empty
            hex("00 00 00 00 00 00 00 2a"),                 // envelope, echoed
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

    func testHeartbeatWithAndWithoutTheEcho() {
        // A unit's heartbeat has no body; the broker's echoes the stamp of the unit's latest report.
        assertGolden(.heartbeat(), [[], hex("4d 44 50 57 30 31"), hex("04")])
        assertGolden(.heartbeat(echo: 0x0102_0304_0506_0708), [[], hex("4d 44 50 57 30 31"), hex("04"), hex("01 02 03 04 05 06 07 08")])
        assertGolden(.heartbeat(echo: 0), [[], hex("4d 44 50 57 30 31"), hex("04"), hex("00 00 00 00 00 00 00 00")])
        assertGolden(.heartbeat(echo: .max), [[], hex("4d 44 50 57 30 31"), hex("04"), hex("ff ff ff ff ff ff ff ff")])
        XCTAssertNotEqual(UnitMessage.heartbeat(echo: 0), .heartbeat(), "an echo of 0 is an echo")
    }

    func testDisconnect() {
        assertGolden(.disconnect, [[], hex("4d 44 50 57 30 31"), hex("05")])
    }

    // MARK: - ASSIGN

    func testAssign() {
        let body = AssignBody(
            assign: 7, stamp: 1_700_000_000_123,
            assignments: [
                Assignment(lease: Lease(partition: 1, epoch: 2, role: .primary), primary: "customer-1", backups: ["customer-2", "customer-3"],
                           inSync: ["customer-2"], load: 100),
                Assignment(lease: Lease(partition: 271, epoch: 0x0102_0304_0506_0708, role: .backup), primary: "customer-2", backups: ["customer-1"],
                           inSync: ["customer-1"]),
            ],
            peers: [
                "customer-2": AssignBody.Peer(publisher: "tcp://h:3", replication: "tcp://h:4", incarnation: 22),
                "customer-1": AssignBody.Peer(publisher: "tcp://h:1", replication: "tcp://h:2", incarnation: 11),
            ])
        let json = #"{"assign":7,"assignments":["#
            + #"{"backups":["customer-2","customer-3"],"epoch":2,"in_sync":["customer-2"],"load":100,"partition":1,"primary":"customer-1","role":"primary"},"#
            + #"{"backups":["customer-1"],"epoch":72623859790382856,"in_sync":["customer-1"],"partition":271,"primary":"customer-2","role":"backup"}],"#
            + #""peers":{"customer-1":{"incarnation":11,"publisher":"tcp:\/\/h:1","replication":"tcp:\/\/h:2"},"#
            + #""customer-2":{"incarnation":22,"publisher":"tcp:\/\/h:3","replication":"tcp:\/\/h:4"}},"stamp":1700000000123}"#
        XCTAssertEqual(String(decoding: body.encoded, as: UTF8.self), json)
        assertGolden(.assign(body), [[], hex("4d 44 50 57 30 31"), hex("10"), bytes(json)])
        XCTAssertEqual(body.coreAssignments, [
            // Incarnations come from the peers; a backup the peers do not list counts as incarnation 0.
            Assignment(lease: Lease(partition: 1, epoch: 2, role: .primary), primary: "customer-1", backups: ["customer-2", "customer-3"],
                       inSync: ["customer-2"], incarnations: ["customer-2": 22, "customer-3": 0], load: 100),
            Assignment(lease: Lease(partition: 271, epoch: 0x0102_0304_0506_0708, role: .backup), primary: "customer-2", backups: ["customer-1"],
                       inSync: ["customer-1"], incarnations: ["customer-1": 11]),
        ])
        XCTAssertEqual(body.assignments.map(\.role), ["primary", "backup"])
        XCTAssertEqual(body.assignments.map(\.load), [100, nil])
        XCTAssertEqual(body.assign, 7)
        XCTAssertEqual(body.stamp, 1_700_000_000_123)
    }

    func testAssignWithNoLeases() {
        let body = AssignBody(assignments: [], peers: [:])
        assertGolden(.assign(body), [[], hex("4d 44 50 57 30 31"), hex("10"), bytes(#"{"assign":0,"assignments":[],"peers":{},"stamp":0}"#)])
        XCTAssertEqual(body.coreAssignments, [])
    }

    func testAssignLoadCountsOnlyForAPrimary() {
        // A load floor on a backup item is read as no load.
        let text = #"{"assign":1,"assignments":[{"backups":[],"epoch":4,"in_sync":[],"load":9,"partition":9,"primary":"a","role":"backup"},"#
            + #"{"backups":[],"epoch":4,"in_sync":[],"load":0,"partition":8,"primary":"b","role":"primary"}],"peers":{},"stamp":2}"#
        let body = AssignBody(decoding: bytes(text))
        XCTAssertEqual(body?.assignments.map(\.load), [9, 0])
        XCTAssertEqual(body?.coreAssignments?.map(\.load), [nil, 0], "a backup never loads; a primary's load of 0 is a load")
        // No `load` key: none.
        let none = #"{"assign":1,"assignments":[{"backups":[],"epoch":4,"in_sync":[],"partition":8,"primary":"b","role":"primary"}],"peers":{},"stamp":2}"#
        XCTAssertEqual(AssignBody(decoding: bytes(none))?.coreAssignments?.first?.load, nil)
    }

    func testAssignReaderIgnoresLayoutAndUnknownFields() {
        let text = #" { "stamp" : 5, "peers" : { "b" : { "replication" : "r", "incarnation" : 3, "publisher" : "p", "z" : 0 } }, "#
            + #""assignments" : [ { "role" : "backup", "in_sync" : [ "b" ], "primary" : "a", "partition" : 9, "epoch" : 4, "backups" : [ "b" ], "x" : 1 } ], "#
            + #""assign" : 2, "y": null } "#
        let body = AssignBody(decoding: bytes(text))
        XCTAssertEqual(body?.coreAssignments,
                       [Assignment(lease: Lease(partition: 9, epoch: 4, role: .backup), primary: "a", backups: ["b"], inSync: ["b"], incarnations: ["b": 3])])
        XCTAssertEqual(body?.assign, 2)
        XCTAssertEqual(body?.stamp, 5)
        XCTAssertEqual(body?.peers["b"], AssignBody.Peer(publisher: "p", replication: "r", incarnation: 3))
    }

    // MARK: - REPORT

    func testReport() {
        let message = UnitMessage.report(records: [
            ReportRecord(holding: Holding(partition: 1, role: .primary, epoch: 2, sequence: 0x0102_0304_0506_0708, inSync: true),
                         inSyncMask: 0b101, behind: 3, unacknowledgedMilliseconds: 250),
            ReportRecord(holding: Holding(partition: 0x0001_0203, role: .backup, epoch: 7, sequence: 9, inSync: false)),
        ], meta: ReportMeta(fenced: 0x0102, stamp: 0x1122_3344_5566_7788, assign: 7, refusedKeys: 3))
        assertGolden(message, [
            [], hex("4d 44 50 57 30 31"), hex("11"),
            // partition u32, role u8, epoch u64, sequence u64, in sync u8, in-sync mask u8, behind u64, unacked ms u32
            hex("""
                00 00 00 01  01  00 00 00 00 00 00 00 02  01 02 03 04 05 06 07 08  01  05  00 00 00 00 00 00 00 03  00 00 00 fa
                00 01 02 03  02  00 00 00 00 00 00 00 07  00 00 00 00 00 00 00 09  00  00  00 00 00 00 00 00 00 00  00 00 00 00
                """),
            // fenced u64, stamp u64, assign u64, loading u64 (all ones: not loading), refused keys u64
            hex("00 00 00 00 00 00 01 02  11 22 33 44 55 66 77 88  00 00 00 00 00 00 00 07  ff ff ff ff ff ff ff ff  00 00 00 00 00 00 00 03"),
        ])
        XCTAssertEqual(message.frames[3].count, 2 * 35, "35 bytes a record")
        XCTAssertEqual(message.frames[4].count, 40, "40 bytes of meta")
    }


    func testReportMaskCarriesAnyByte() {
        for mask: UInt8 in [0, 1, 0x80, 0xff] {
            let record = ReportRecord(holding: Holding(partition: 2, role: .primary, epoch: 1, sequence: 1, inSync: true), inSyncMask: mask)
            let message = UnitMessage.report(records: [record], meta: ReportMeta())
            XCTAssertEqual(message.frames[3][22], mask)
            XCTAssertEqual(UnitMessage.decode(message.frames[...]), .success(message))
        }
    }

    func testReportWhileLoadingCarriesTheEntriesLoaded() {
        assertGolden(.report(records: [], meta: ReportMeta(fenced: 1, loading: 0x0102_0304)), [
            [], hex("4d 44 50 57 30 31"), hex("11"), [],
            hex("00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00 01 02 03 04  00 00 00 00 00 00 00 00"),
        ])
        // Loading from zero entries is still loading: the field is 0, not all ones.
        assertGolden(.report(records: [], meta: ReportMeta(loading: 0)), [
            [], hex("4d 44 50 57 30 31"), hex("11"), [],
            hex("00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00"),
        ])
        // All ones reads as "not loading".
        let frames: [[UInt8]] = [[], Golden.mdpw01, hex("11"), [], Array(repeating: 0, count: 24) + Array(repeating: 0xff, count: 8) + Array(repeating: 0, count: 8)]
        XCTAssertEqual(UnitMessage.decode(frames[...]), .success(.report(records: [], meta: ReportMeta(loading: nil))))
        let almost: [[UInt8]] = [[], Golden.mdpw01, hex("11"), [], Array(repeating: 0, count: 24) + Array(repeating: 0xff, count: 7) + [0xfe] + Array(repeating: 0, count: 8)]
        XCTAssertEqual(UnitMessage.decode(almost[...]), .success(.report(records: [], meta: ReportMeta(loading: UInt64.max - 1))))
    }

    func testReportWithNothingHeldIsAnEmptyRecordFrame() {
        assertGolden(.report(records: [], meta: ReportMeta()), [
            [], hex("4d 44 50 57 30 31"), hex("11"), [],
            hex("00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  ff ff ff ff ff ff ff ff  00 00 00 00 00 00 00 00"),
        ])
    }

    func testReportWithABadMetaFrameIsRefused() {
        for size in [0, 8, 16, 24, 31, 32, 33, 39, 41, 48] {
            let frames = [[], Golden.mdpw01, hex("11"), [], Array(repeating: UInt8(0), count: size)]
            guard case .failure(let error) = UnitMessage.decode(frames[...]) else { return XCTFail("accepted a \(size)-byte meta frame") }
            XCTAssertEqual(error.code, "malformed")
        }
    }

    func testReportReadsAnyNonZeroInSyncByteAsTrue() {
        let frames = [[], Golden.mdpw01, hex("11"),
                      hex("00 00 00 05 02 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 02 07 00 00 00 00 00 00 00 00 00 00 00 00 00"),
                      Array(repeating: 0, count: 24) + Array(repeating: 0xff, count: 8) + Array(repeating: 0, count: 8)]
        XCTAssertEqual(UnitMessage.decode(frames[...]), .success(.report(records: [
            ReportRecord(holding: Holding(partition: 5, role: .backup, epoch: 1, sequence: 2, inSync: true)),
        ], meta: ReportMeta())))
    }

    // MARK: - Misc

    func testCommandProperty() {
        XCTAssertEqual(UnitMessage.heartbeat().command, .heartbeat)
        XCTAssertEqual(UnitMessage.heartbeat(echo: 1).command, .heartbeat)
        XCTAssertEqual(UnitMessage.disconnect.command, .disconnect)
        XCTAssertEqual(UnitMessage.assign(AssignBody(assignments: [], peers: [:])).command, .assign)
        XCTAssertEqual(UnitMessage.report(records: [], meta: ReportMeta()).command, .report)
        XCTAssertEqual(UnitMessage.ready(section: "s", unit: "u", report: UnitReport(operations: [], pid: 0)).command, .ready)
        XCTAssertEqual(UnitMessage.reply(client: [], envelope: [], status: .ok, payload: [], meta: []).command, .reply)
        XCTAssertEqual(UnitMessage.request(client: [], envelope: [], route: Route(partition: 0, epoch: 0), requestID: [], operation: [], key: [],
                                           arguments: []).command, .request)
    }

    func testDecodingASliceThatDoesNotStartAtZero() {
        let frames: [[UInt8]] = [hex("00 6b 8b 45 67"), [], Golden.mdpw01, hex("04")]
        XCTAssertEqual(UnitMessage.decode(frames[1...]), .success(.heartbeat()))
        let echo: [[UInt8]] = [hex("00 6b 8b 45 67"), [], Golden.mdpw01, hex("04"), hex("00 00 00 00 00 00 00 09")]
        XCTAssertEqual(UnitMessage.decode(echo[1...]), .success(.heartbeat(echo: 9)))
        let report: [[UInt8]] = [hex("aa"), [], Golden.mdpw01, hex("11"),
                                 hex("00 00 00 05 01 00 00 00 00 00 00 00 09 00 00 00 00 00 00 00 01 01 02 00 00 00 00 00 00 00 00 00 00 00 00"),
                                 Array(repeating: 0, count: 24) + Array(repeating: 0xff, count: 8) + Array(repeating: 0, count: 8)]
        XCTAssertEqual(UnitMessage.decode(report[1...]), .success(.report(records: [
            ReportRecord(holding: Holding(partition: 5, role: .primary, epoch: 9, sequence: 1, inSync: true), inSyncMask: 2),
        ], meta: ReportMeta())))
        let request: [[UInt8]] = [hex("aa"), [], Golden.mdpw01, hex("02"), hex("bb"), [], hex("01"), hex("00 00 00 01 00 00 00 00 00 00 00 02"),
                                  Golden.rid, Golden.get, Golden.key42, hex("01")]
        XCTAssertEqual(UnitMessage.decode(request[1...]), .success(.request(
            client: hex("bb"), envelope: hex("01"), route: Route(partition: 1, epoch: 2), requestID: Golden.rid, operation: Golden.get,
            key: Golden.key42, arguments: [hex("01")])))
    }
}
