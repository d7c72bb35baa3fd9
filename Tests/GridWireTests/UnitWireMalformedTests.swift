import GridCore
import GridWire
import XCTest

/// Malformed worker messages are refused with 400 `malformed`, never a crash.
final class UnitWireMalformedTests: XCTestCase {
    /// A minimal valid report: every field present, nothing held.
    private let report = bytes(#"{"holdings":[],"operations":[],"pid":0,"publisher":"","replication":"","wire":2}"#)

    private func assertMalformed(_ frames: [[UInt8]], _ reason: String, file: StaticString = #filePath, line: UInt = #line) {
        switch UnitMessage.decode(frames[...]) {
        case .success(let message):
            XCTFail("decoded \(message)", file: file, line: line)
        case .failure(let error):
            XCTAssertEqual(error.status, .badRequest, file: file, line: line)
            XCTAssertEqual(error.code, "malformed", file: file, line: line)
            XCTAssertTrue(error.message.contains(reason), "message '\(error.message)'", file: file, line: line)
        }
    }

    private func command(_ byte: UInt8, _ body: [[UInt8]]) -> [[UInt8]] { [[], Golden.mdpw01, [byte]] + body }

    func testTooFewFrames() {
        assertMalformed([], "with 0 frames")
        assertMalformed([[]], "with 1 frames")
        assertMalformed([[], Golden.mdpw01], "with 2 frames")
    }

    func testDelimiterAndHeader() {
        assertMalformed([hex("00"), Golden.mdpw01, hex("04")], "without the empty delimiter")
        assertMalformed([Golden.mdpw01, hex("04"), []], "without the empty delimiter")
        assertMalformed([[], hex("4d 44 50 57 30 32"), hex("04")], "without the MDPW01 header")
        assertMalformed([[], Golden.mdpc01, hex("04")], "without the MDPW01 header")
    }

    func testBadCommandBytes() {
        assertMalformed(command(0x00, []), "unknown worker command")
        assertMalformed(command(0x06, []), "unknown worker command")
        assertMalformed(command(0x06, [hex("00")]), "unknown worker command")
        assertMalformed(command(0x12, []), "unknown worker command")
        assertMalformed(command(0x0f, []), "unknown worker command")
        assertMalformed(command(0xff, []), "unknown worker command")
        assertMalformed([[], Golden.mdpw01, []], "unknown worker command")
        assertMalformed([[], Golden.mdpw01, hex("04 00")], "unknown worker command")
        assertMalformed([[], Golden.mdpw01, hex("30 34")], "unknown worker command") // "04" in ASCII
    }

    func testReadyFrameCount() {
        assertMalformed(command(0x01, []), "READY needs")
        assertMalformed(command(0x01, [Golden.customer]), "READY needs") // a plain MDP worker: not supported yet
        assertMalformed(command(0x01, [Golden.customer, Golden.customer1]), "READY needs")
        assertMalformed(command(0x01, [Golden.customer, Golden.customer1, report, []]), "READY needs")
    }

    func testReadyNames() {
        assertMalformed(command(0x01, [[], Golden.customer1, report]), "invalid section or unit name")
        assertMalformed(command(0x01, [Golden.customer, [], report]), "invalid section or unit name")
        let long = Array(repeating: UInt8(0x75), count: 129)
        assertMalformed(command(0x01, [Golden.customer, long, report]), "invalid section or unit name")
        XCTAssertEqual(UnitMessage.decode(command(0x01, [Golden.customer, Array(long.dropFirst()), report])[...]),
                       .success(.ready(section: "customer", unit: String(repeating: "u", count: 128), report: UnitReport(operations: [], pid: 0))))
    }

    func testReadyWithInvalidUTF8() {
        let invalid: [[UInt8]] = [
            hex("ff"), hex("c3"), hex("63 c3"), hex("c0 af"), hex("e0 80 80"), hex("ed a0 80"), hex("f4 90 80 80"), hex("80"),
        ]
        for bytes in invalid {
            assertMalformed(command(0x01, [bytes, Golden.customer1, report]), "invalid section or unit name")
            assertMalformed(command(0x01, [Golden.customer, bytes, report]), "invalid section or unit name")
        }
        // Valid multi-byte UTF-8 is fine.
        XCTAssertEqual(UnitMessage.decode(command(0x01, [hex("c3 a9"), hex("f0 9f 98 80"), report])[...]),
                       .success(.ready(section: "é", unit: "😀", report: UnitReport(operations: [], pid: 0))))
    }

    func testReadyWithAnUnreadableReport() {
        let reports = [
            "", "not json", "{}", "[]", "null",
            // A wire 1 report (no endpoints, no holdings) is not enough any more.
            #"{"operations":[],"pid":0,"wire":1}"#,
            #"{"holdings":[],"operations":[],"pid":0,"publisher":"","wire":2}"#,
            #"{"holdings":[],"operations":[],"pid":0,"replication":"","wire":2}"#,
            #"{"operations":[],"pid":0,"publisher":"","replication":"","wire":2}"#,
            #"{"holdings":[],"operations":"get","pid":0,"publisher":"","replication":"","wire":2}"#,
            #"{"holdings":[],"operations":[],"pid":"1","publisher":"","replication":"","wire":2}"#,
            #"{"holdings":[],"operations":[],"pid":4294967296,"publisher":"","replication":"","wire":2}"#,
            #"{"holdings":[],"operations":[],"pid":0,"publisher":1,"replication":"","wire":2}"#,
            #"{"holdings":[],"operations":[],"pid":0,"publisher":"","replication":"","wire":2"#,
            // Holdings: [partition, role, epoch, sequence, in sync], role 1 or 2.
            #"{"holdings":{},"operations":[],"pid":0,"publisher":"","replication":"","wire":2}"#,
            #"{"holdings":[[1,1,1,1]],"operations":[],"pid":0,"publisher":"","replication":"","wire":2}"#,
            #"{"holdings":[[1,0,1,1,true]],"operations":[],"pid":0,"publisher":"","replication":"","wire":2}"#,
            #"{"holdings":[[1,3,1,1,true]],"operations":[],"pid":0,"publisher":"","replication":"","wire":2}"#,
            #"{"holdings":[[1,256,1,1,true]],"operations":[],"pid":0,"publisher":"","replication":"","wire":2}"#,
            #"{"holdings":[[1,1,-1,1,true]],"operations":[],"pid":0,"publisher":"","replication":"","wire":2}"#,
            #"{"holdings":[[1,1,1,1,1]],"operations":[],"pid":0,"publisher":"","replication":"","wire":2}"#,
            #"{"holdings":[["1",1,1,1,true]],"operations":[],"pid":0,"publisher":"","replication":"","wire":2}"#,
            #"{"holdings":[{"partition":1}],"operations":[],"pid":0,"publisher":"","replication":"","wire":2}"#,
        ]
        for text in reports {
            assertMalformed(command(0x01, [Golden.customer, Golden.customer1, bytes(text)]), "unreadable report")
        }
        assertMalformed(command(0x01, [Golden.customer, Golden.customer1, hex("ff fe 00")]), "unreadable report")
        // The good one, for contrast.
        XCTAssertNoThrow(try UnitMessage.decode(command(0x01, [Golden.customer, Golden.customer1, report])[...]).get())
    }

    func testRequestEnvelope() {
        let route = hex("00 00 00 01 00 00 00 00 00 00 00 01")
        let good: [[UInt8]] = [hex("aa"), [], hex("02 01"), route, Golden.get, Golden.key42]
        XCTAssertNoThrow(try UnitMessage.decode(command(0x02, good)[...]).get())
        assertMalformed(command(0x02, Array(good.dropLast())), "REQUEST with a bad envelope")
        assertMalformed(command(0x02, []), "REQUEST with a bad envelope")
        assertMalformed(command(0x02, [hex("aa"), hex("00"), hex("02 01"), route, Golden.get, Golden.key42]), "REQUEST with a bad envelope")
        for size in [0, 4, 8, 11, 13, 16] {
            let badRoute = Array(repeating: UInt8(0), count: size)
            assertMalformed(command(0x02, [hex("aa"), [], hex("02 01"), badRoute, Golden.get, Golden.key42]), "REQUEST with a bad envelope")
        }
    }

    func testReplyEnvelopeAndStatus() {
        let good: [[UInt8]] = [hex("aa"), [], hex("02 01"), hex("32 30 30"), [], hex("00 00 00 00 00 00 00 00")]
        XCTAssertNoThrow(try UnitMessage.decode(command(0x03, good)[...]).get())
        assertMalformed(command(0x03, Array(good.dropLast())), "REPLY with a bad envelope or status")
        assertMalformed(command(0x03, good + [[]]), "REPLY with a bad envelope or status")
        assertMalformed(command(0x03, [hex("aa"), hex("00"), hex("02 01"), hex("32 30 30"), [], []]), "REPLY with a bad envelope or status")
        for status in ["", "20", "2000", "abc", "201", "999", " 200"] {
            assertMalformed(command(0x03, [hex("aa"), [], hex("02 01"), bytes(status), [], []]), "REPLY with a bad envelope or status")
        }
    }

    func testAssignBody() {
        let good = bytes(#"{"assignments":[{"backups":[],"epoch":1,"partition":0,"primary":"a","role":"primary"}],"peers":{}}"#)
        XCTAssertNoThrow(try UnitMessage.decode(command(0x10, [good])[...]).get())
        assertMalformed(command(0x10, []), "ASSIGN with an unreadable body")
        assertMalformed(command(0x10, [good, []]), "ASSIGN with an unreadable body")
        assertMalformed(command(0x10, [[], []]), "ASSIGN with an unreadable body")
        let bodies = [
            "", "{}", "[]", "null", "not json",
            #"{"assignments":[]}"#,
            #"{"peers":{}}"#,
            #"{"assignments":{},"peers":{}}"#,
            #"{"assignments":[],"peers":[]}"#,
            // Every item field is needed; the role is "primary" or "backup".
            #"{"assignments":[{"epoch":1,"partition":0,"primary":"a","role":"primary"}],"peers":{}}"#,
            #"{"assignments":[{"backups":[],"partition":0,"primary":"a","role":"primary"}],"peers":{}}"#,
            #"{"assignments":[{"backups":[],"epoch":1,"primary":"a","role":"primary"}],"peers":{}}"#,
            #"{"assignments":[{"backups":[],"epoch":1,"partition":0,"role":"primary"}],"peers":{}}"#,
            #"{"assignments":[{"backups":[],"epoch":1,"partition":0,"primary":"a"}],"peers":{}}"#,
            #"{"assignments":[{"backups":[],"epoch":1,"partition":0,"primary":"a","role":"leader"}],"peers":{}}"#,
            #"{"assignments":[{"backups":[],"epoch":1,"partition":0,"primary":"a","role":"Primary"}],"peers":{}}"#,
            #"{"assignments":[{"backups":[],"epoch":1,"partition":0,"primary":"a","role":1}],"peers":{}}"#,
            #"{"assignments":[{"backups":[],"epoch":-1,"partition":0,"primary":"a","role":"primary"}],"peers":{}}"#,
            #"{"assignments":[{"backups":"b","epoch":1,"partition":0,"primary":"a","role":"primary"}],"peers":{}}"#,
            #"{"assignments":[],"peers":{"a":{"publisher":"p"}}}"#,
            #"{"assignments":[],"peers":{"a":{"publisher":"p","replication":2}}}"#,
        ]
        for text in bodies {
            assertMalformed(command(0x10, [bytes(text)]), "ASSIGN with an unreadable body")
        }
        // The binary lease records of wire 1 are not an ASSIGN body any more.
        assertMalformed(command(0x10, [hex("00 00 00 01 00 00 00 00 00 00 00 01 01")]), "ASSIGN with an unreadable body")
        assertMalformed(command(0x10, [hex("ff fe 00")]), "ASSIGN with an unreadable body")
    }

    func testReportRecordList() {
        let record = hex("00 00 00 01 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 03 01 00 00 00 00 00 00 00 00 00 00 00 00")
        XCTAssertEqual(record.count, 34)
        XCTAssertNoThrow(try UnitMessage.decode(command(0x11, [record])[...]).get())
        XCTAssertNoThrow(try UnitMessage.decode(command(0x11, [record + record])[...]).get())
        assertMalformed(command(0x11, []), "REPORT with a bad record list")
        assertMalformed(command(0x11, [record, record]), "REPORT with a bad record list")
        assertMalformed(command(0x11, [[], []]), "REPORT with a bad record list")
        for size in [1, 13, 33, 35, 67] {
            assertMalformed(command(0x11, [Array((record + record).prefix(size))]), "REPORT with a bad record list")
        }
        assertMalformed(command(0x11, [record + [0]]), "REPORT with a bad record list")
        for role: UInt8 in [0, 3, 0xff] {
            var bad = record
            bad[4] = role
            assertMalformed(command(0x11, [bad]), "REPORT with an unknown role")
            assertMalformed(command(0x11, [record + bad]), "REPORT with an unknown role")
        }
    }

    func testHeartbeatAndDisconnectIgnoreTrailingFrames() {
        // 7/MDP: nothing follows these commands; extra frames are tolerated, not an error.
        XCTAssertEqual(UnitMessage.decode(command(0x04, [hex("01")])[...]), .success(.heartbeat))
        XCTAssertEqual(UnitMessage.decode(command(0x05, [[], []])[...]), .success(.disconnect))
    }
}

final class AssignBodyRangeTests: XCTestCase {
    func testAssignRefusesPartitionsOutsideU32() {
        for partition in ["-1", "4294967296"] {
            let json = #"{"assignments":[{"backups":[],"epoch":1,"partition":"# + partition + #","primary":"a","role":"primary"}],"peers":{}}"#
            XCTAssertNil(AssignBody(decoding: Array(json.utf8)), partition)
        }
    }
}
