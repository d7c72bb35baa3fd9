import GridCore
import GridWire
import XCTest

/// Malformed worker messages are refused with 400 `malformed`, never a crash.
final class UnitWireMalformedTests: XCTestCase {
    /// A minimal valid report: every field present, nothing held.
    private let report = bytes(#"{"holdings":[],"incarnation":0,"operations":[],"pid":0,"publisher":"","replication":"","stamp":0,"wire":3}"#)

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
        /// A valid report whose field `key` holds `field` instead (nil: the field is left out).
        func readyReport(replacing key: String, with field: String?) -> String {
            let fields: [(String, String)] = [
                ("holdings", "[]"), ("incarnation", "0"), ("operations", "[]"), ("pid", "0"), ("publisher", #""""#),
                ("replication", #""""#), ("stamp", "0"), ("wire", "3"),
            ]
            let parts = fields.compactMap { name, value -> String? in
                name == key ? field.map { #""\#(name)":\#($0)"# } : #""\#(name)":\#(value)"#
            }
            return "{" + parts.joined(separator: ",") + "}"
        }
        var reports = [
            "", "not json", "{}", "[]", "null",
            // A wire 1 report (no endpoints, no holdings) is not enough any more, nor a wire 2 one (no incarnation, no stamp).
            #"{"operations":[],"pid":0,"wire":1}"#,
            #"{"holdings":[],"operations":[],"pid":0,"publisher":"","replication":"","wire":2}"#,
            #"{"holdings":[],"incarnation":0,"operations":[],"pid":0,"publisher":"","replication":"","stamp":0,"wire":3"#,
        ]
        // Every field but `clients` is needed, with its type.
        for key in ["holdings", "incarnation", "operations", "pid", "publisher", "replication", "stamp", "wire"] {
            reports.append(readyReport(replacing: key, with: nil))
        }
        reports += [
            readyReport(replacing: "operations", with: #""get""#),
            readyReport(replacing: "pid", with: #""1""#),
            readyReport(replacing: "pid", with: "4294967296"),
            readyReport(replacing: "publisher", with: "1"),
            readyReport(replacing: "incarnation", with: "-1"),
            readyReport(replacing: "incarnation", with: #""1""#),
            readyReport(replacing: "incarnation", with: "1.5"),
            readyReport(replacing: "incarnation", with: "18446744073709551616"),
            readyReport(replacing: "stamp", with: "-1"),
            readyReport(replacing: "stamp", with: "null"),
            readyReport(replacing: "wire", with: #""3""#),
            // Holdings: [partition, role, epoch, sequence, in sync, in-sync backups?], role 1 or 2.
            readyReport(replacing: "holdings", with: "{}"),
            readyReport(replacing: "holdings", with: "[[1,1,1,1]]"),
            readyReport(replacing: "holdings", with: "[[1,0,1,1,true]]"),
            readyReport(replacing: "holdings", with: "[[1,3,1,1,true]]"),
            readyReport(replacing: "holdings", with: "[[1,256,1,1,true]]"),
            readyReport(replacing: "holdings", with: "[[1,1,-1,1,true]]"),
            readyReport(replacing: "holdings", with: "[[1,1,1,1,1]]"),
            readyReport(replacing: "holdings", with: #"[["1",1,1,1,true]]"#),
            readyReport(replacing: "holdings", with: #"[{"partition":1}]"#),
            readyReport(replacing: "holdings", with: #"[[1,1,1,1,true,"b"]]"#),
            readyReport(replacing: "holdings", with: "[[1,1,1,1,true,[1]]]"),
            readyReport(replacing: "holdings", with: "[[1,1,1,1,true,null]]"),
            readyReport(replacing: "holdings", with: "[[1,1,1,1,true,{}]]"),
        ]
        for text in reports {
            assertMalformed(command(0x01, [Golden.customer, Golden.customer1, bytes(text)]), "unreadable report")
        }
        assertMalformed(command(0x01, [Golden.customer, Golden.customer1, hex("ff fe 00")]), "unreadable report")
        // The good ones, for contrast: the builder makes valid reports, and a holding may have 5 or 6 elements.
        XCTAssertNoThrow(try UnitMessage.decode(command(0x01, [Golden.customer, Golden.customer1, report])[...]).get())
        XCTAssertEqual(bytes(readyReport(replacing: "", with: nil)), report)
        for holdings in ["[[1,1,1,1,true]]", #"[[1,1,1,1,true,["b"]]]"#, "[[1,1,1,1,true,[]]]"] {
            XCTAssertNoThrow(try UnitMessage.decode(command(0x01, [Golden.customer, Golden.customer1, bytes(readyReport(replacing: "holdings", with: holdings))])[...]).get(),
                             holdings)
        }
    }

    func testRequestEnvelope() {
        let route = hex("00 00 00 01 00 00 00 00 00 00 00 01")
        let good: [[UInt8]] = [hex("aa"), [], hex("02 01"), route, Golden.rid, Golden.get, Golden.key42]
        XCTAssertNoThrow(try UnitMessage.decode(command(0x02, good)[...]).get())
        assertMalformed(command(0x02, Array(good.dropLast())), "REQUEST with a bad envelope")
        assertMalformed(command(0x02, []), "REQUEST with a bad envelope")
        assertMalformed(command(0x02, [hex("aa"), hex("00"), hex("02 01"), route, Golden.rid, Golden.get, Golden.key42]), "REQUEST with a bad envelope")
        for size in [0, 4, 8, 11, 13, 16] {
            let badRoute = Array(repeating: UInt8(0), count: size)
            assertMalformed(command(0x02, [hex("aa"), [], hex("02 01"), badRoute, Golden.rid, Golden.get, Golden.key42]), "REQUEST with a bad envelope")
        }
        // The wire 2 layout (no request id frame) with a key is one frame short.
        assertMalformed(command(0x02, [hex("aa"), [], hex("02 01"), route, Golden.get, Golden.key42]), "REQUEST with a bad envelope")
    }

    func testRequestID() {
        let route = hex("00 00 00 01 00 00 00 00 00 00 00 01")
        func frames(_ rid: [UInt8]) -> [[UInt8]] { command(0x02, [hex("aa"), [], hex("02 01"), route, rid, Golden.get, Golden.key42]) }
        let head = hex("00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03")
        // Empty (the client sent none), or sequence, floor and a 1 to 64-byte client.
        XCTAssertEqual(UnitMessage.decode(frames([])[...]), .success(.request(
            client: hex("aa"), envelope: hex("02 01"), route: Route(partition: 1, epoch: 1), requestID: [], operation: Golden.get, key: Golden.key42, arguments: [])))
        XCTAssertNoThrow(try UnitMessage.decode(frames(head + [0x63])[...]).get())
        XCTAssertNoThrow(try UnitMessage.decode(frames(head + Array(repeating: 0x63, count: 64))[...]).get())
        for bad in [hex("00"), Array(head.prefix(8)), Array(head.prefix(15)), head, head + Array(repeating: 0x63, count: 65)] {
            assertMalformed(frames(bad), "REQUEST with a bad request id")
        }
        // Only the length is checked: an MDP "RID:" frame passed on unstripped (25 bytes) reads as an id with a 9-byte client.
        XCTAssertEqual(try UnitMessage.decode(frames(Golden.mdpRID)[...]).get(), .request(
            client: hex("aa"), envelope: hex("02 01"), route: Route(partition: 1, epoch: 1), requestID: Golden.mdpRID, operation: Golden.get,
            key: Golden.key42, arguments: []))
        // An operation where the request id belongs (the wire 2 layout with arguments).
        assertMalformed(command(0x02, [hex("aa"), [], hex("02 01"), route, Golden.get, Golden.key42, hex("01")]), "REQUEST with a bad request id")
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
        let good = bytes(#"{"assign":1,"assignments":[{"backups":[],"epoch":1,"in_sync":[],"partition":0,"primary":"a","role":"primary"}],"peers":{},"stamp":0}"#)
        XCTAssertNoThrow(try UnitMessage.decode(command(0x10, [good])[...]).get())
        assertMalformed(command(0x10, []), "ASSIGN with an unreadable body")
        assertMalformed(command(0x10, [good, []]), "ASSIGN with an unreadable body")
        assertMalformed(command(0x10, [[], []]), "ASSIGN with an unreadable body")
        let item = #"{"backups":[],"epoch":1,"in_sync":[],"partition":0,"primary":"a","role":"primary"}"#
        let bodies = [
            "", "{}", "[]", "null", "not json",
            #"{"assign":0,"assignments":[],"stamp":0}"#,
            #"{"assign":0,"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":{},"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[],"peers":[],"stamp":0}"#,
            // The wire 2 body (no assign number, no stamp, items without in_sync) is not enough any more.
            #"{"assignments":[{"backups":[],"epoch":1,"partition":0,"primary":"a","role":"primary"}],"peers":{}}"#,
            #"{"assignments":[],"peers":{}}"#,
            #"{"assignments":[],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[],"peers":{}}"#,
            #"{"assign":-1,"assignments":[],"peers":{},"stamp":0}"#,
            #"{"assign":"1","assignments":[],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[],"peers":{},"stamp":-1}"#,
            #"{"assign":0,"assignments":[],"peers":{},"stamp":null}"#,
            // Every item field but `load` is needed; the role is "primary" or "backup".
            #"{"assign":0,"assignments":[{"epoch":1,"in_sync":[],"partition":0,"primary":"a","role":"primary"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"in_sync":[],"partition":0,"primary":"a","role":"primary"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"epoch":1,"partition":0,"primary":"a","role":"primary"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"epoch":1,"in_sync":[],"primary":"a","role":"primary"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"epoch":1,"in_sync":[],"partition":0,"role":"primary"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"epoch":1,"in_sync":[],"partition":0,"primary":"a"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"epoch":1,"in_sync":[],"partition":0,"primary":"a","role":"leader"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"epoch":1,"in_sync":[],"partition":0,"primary":"a","role":"Primary"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"epoch":1,"in_sync":[],"partition":0,"primary":"a","role":1}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"epoch":-1,"in_sync":[],"partition":0,"primary":"a","role":"primary"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":"b","epoch":1,"in_sync":[],"partition":0,"primary":"a","role":"primary"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"epoch":1,"in_sync":"b","partition":0,"primary":"a","role":"primary"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"epoch":1,"in_sync":[1],"partition":0,"primary":"a","role":"primary"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"epoch":1,"in_sync":null,"partition":0,"primary":"a","role":"primary"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"epoch":1,"in_sync":[],"load":-1,"partition":0,"primary":"a","role":"primary"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"epoch":1,"in_sync":[],"load":"1","partition":0,"primary":"a","role":"primary"}],"peers":{},"stamp":0}"#,
            #"{"assign":0,"assignments":[{"backups":[],"epoch":1,"inSync":[],"partition":0,"primary":"a","role":"primary"}],"peers":{},"stamp":0}"#,
            // Peers: publisher, replication and incarnation.
            #"{"assign":0,"assignments":[],"peers":{"a":{"publisher":"p"}},"stamp":0}"#,
            #"{"assign":0,"assignments":[],"peers":{"a":{"publisher":"p","replication":2,"incarnation":0}},"stamp":0}"#,
            #"{"assign":0,"assignments":[],"peers":{"a":{"publisher":"p","replication":"r"}},"stamp":0}"#,
            #"{"assign":0,"assignments":[],"peers":{"a":{"incarnation":-1,"publisher":"p","replication":"r"}},"stamp":0}"#,
            #"{"assign":0,"assignments":[],"peers":{"a":{"incarnation":"1","publisher":"p","replication":"r"}},"stamp":0}"#,
            #"{"assign":0,"assignments":["# + item + "," + #"{"backups":[],"epoch":1,"in_sync":[],"partition":1,"primary":"a","role":"owner"}],"peers":{},"stamp":0}"#,
        ]
        for text in bodies {
            assertMalformed(command(0x10, [bytes(text)]), "ASSIGN with an unreadable body")
        }
        // The binary lease records of wire 1 are not an ASSIGN body any more.
        assertMalformed(command(0x10, [hex("00 00 00 01 00 00 00 00 00 00 00 01 01")]), "ASSIGN with an unreadable body")
        assertMalformed(command(0x10, [hex("ff fe 00")]), "ASSIGN with an unreadable body")
        // For contrast: a peer with every field, an item with a load.
        XCTAssertNoThrow(try UnitMessage.decode(command(0x10, [bytes(
            #"{"assign":0,"assignments":[{"backups":["b"],"epoch":1,"in_sync":["b"],"load":3,"partition":0,"primary":"a","role":"primary"}],"#
            + #""peers":{"b":{"incarnation":4,"publisher":"p","replication":"r"}},"stamp":0}"#)])[...]).get())
    }

    func testReportRecordList() {
        let record = hex("00 00 00 01 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 03 01 03 00 00 00 00 00 00 00 00 00 00 00 00")
        let meta = Array(repeating: UInt8(0), count: 24) + Array(repeating: 0xff, count: 8) + Array(repeating: 0, count: 8)
        XCTAssertEqual(record.count, 35)
        XCTAssertNoThrow(try UnitMessage.decode(command(0x11, [record, meta])[...]).get())
        XCTAssertNoThrow(try UnitMessage.decode(command(0x11, [record + record, meta])[...]).get())
        XCTAssertNoThrow(try UnitMessage.decode(command(0x11, [[], meta])[...]).get())
        assertMalformed(command(0x11, []), "REPORT with a bad record list or meta frame")
        assertMalformed(command(0x11, [record]), "REPORT with a bad record list or meta frame")
        assertMalformed(command(0x11, [record, record]), "REPORT with a bad record list or meta frame")
        assertMalformed(command(0x11, [record, meta, []]), "REPORT with a bad record list or meta frame")
        assertMalformed(command(0x11, [record, meta, meta]), "REPORT with a bad record list or meta frame")
        assertMalformed(command(0x11, [[], []]), "REPORT with a bad record list or meta frame")
        // The wire 2 layout: 34-byte records, an 8-byte fenced count.
        assertMalformed(command(0x11, [Array(record.dropLast()), hex("00 00 00 00 00 00 00 00")]), "REPORT with a bad record list or meta frame")
        assertMalformed(command(0x11, [Array(record.dropLast()), meta]), "REPORT with a bad record list or meta frame")
        for size in [1, 13, 34, 36, 69, 71] {
            assertMalformed(command(0x11, [Array((record + record + record).prefix(size)), meta]), "REPORT with a bad record list or meta frame")
        }
        assertMalformed(command(0x11, [record + [0], meta]), "REPORT with a bad record list or meta frame")
        for role: UInt8 in [0, 3, 0xff] {
            var bad = record
            bad[4] = role
            assertMalformed(command(0x11, [bad, meta]), "REPORT with an unknown role")
            assertMalformed(command(0x11, [record + bad, meta]), "REPORT with an unknown role")
        }
    }

    func testHeartbeatAndDisconnectIgnoreTrailingFrames() {
        // 7/MDP: nothing follows these commands; extra frames are tolerated, not an error.
        XCTAssertEqual(UnitMessage.decode(command(0x04, [hex("01")])[...]), .success(.heartbeat()))
        XCTAssertEqual(UnitMessage.decode(command(0x05, [[], []])[...]), .success(.disconnect))
        // HEARTBEAT reads its first frame as the echo only when it is 8 bytes; any other frame is no echo.
        for size in [0, 1, 7, 9, 16] {
            XCTAssertEqual(UnitMessage.decode(command(0x04, [Array(repeating: 1, count: size)])[...]), .success(.heartbeat()), "\(size) bytes")
        }
        XCTAssertEqual(UnitMessage.decode(command(0x04, [hex("00 00 00 00 00 00 00 02"), hex("01")])[...]), .success(.heartbeat(echo: 2)))
        XCTAssertEqual(UnitMessage.decode(command(0x04, [hex("01"), hex("00 00 00 00 00 00 00 02")])[...]), .success(.heartbeat()),
                       "only the first frame is the echo")
    }
}

final class AssignBodyRangeTests: XCTestCase {
    func testAssignRefusesPartitionsOutsideU32() {
        func body(_ partition: String) -> [UInt8] {
            Array((#"{"assign":0,"assignments":[{"backups":[],"epoch":1,"in_sync":[],"partition":"# + partition
                + #","primary":"a","role":"primary"}],"peers":{},"stamp":0}"#).utf8)
        }
        for partition in ["-1", "4294967296"] {
            XCTAssertNil(AssignBody(decoding: body(partition)), partition)
        }
        for partition in ["0", "4294967295"] {
            XCTAssertNotNil(AssignBody(decoding: body(partition)), partition)
        }
    }
}
