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

    func testHeaderAndCommandBytes() {
        XCTAssertEqual(UnitMessage.header, hex("4d 44 50 57 30 31"))
        XCTAssertEqual(UnitMessage.Command.ready.rawValue, 0x01)
        XCTAssertEqual(UnitMessage.Command.request.rawValue, 0x02)
        XCTAssertEqual(UnitMessage.Command.reply.rawValue, 0x03)
        XCTAssertEqual(UnitMessage.Command.heartbeat.rawValue, 0x04)
        XCTAssertEqual(UnitMessage.Command.disconnect.rawValue, 0x05)
        XCTAssertEqual(UnitMessage.Command.assign.rawValue, 0x10)
        XCTAssertEqual(Role.primary.rawValue, 1)
        XCTAssertEqual(Role.backup.rawValue, 2)
    }

    func testReady() {
        let report = UnitReport(operations: ["get", "put"], pid: 4242)
        assertGolden(.ready(section: "customer", unit: "customer-1", report: report), [
            [],
            hex("4d 44 50 57 30 31"),                      // MDPW01
            hex("01"),                                     // READY
            hex("63 75 73 74 6f 6d 65 72"),                // customer
            hex("63 75 73 74 6f 6d 65 72 2d 31"),          // customer-1
            // {"operations":["get","put"],"pid":4242,"wire":1}
            hex("7b 22 6f 70 65 72 61 74 69 6f 6e 73 22 3a 5b 22 67 65 74 22 2c 22 70 75 74 22 5d 2c 22 70 69 64 22 3a 34 32 34 32 2c 22 77 69 72 65 22 3a 31 7d"),
        ])
    }

    func testReadyReportWithOtherValues() {
        let report = UnitReport(operations: ["get", "put", "del", "cas"], pid: -1, wire: 2)
        // {"operations":["get","put","del","cas"],"pid":-1,"wire":2}
        XCTAssertEqual(report.encoded, hex("""
            7b 22 6f 70 65 72 61 74 69 6f 6e 73 22 3a 5b 22 67 65 74 22 2c 22 70 75 74 22 2c 22 64 65 6c 22 2c 22 63 61 73 22 5d
            2c 22 70 69 64 22 3a 2d 31 2c 22 77 69 72 65 22 3a 32 7d
            """))
        XCTAssertEqual(UnitReport(decoding: report.encoded), report)
        XCTAssertEqual(UnitReport.currentWire, 1)
        // Whitespace, key order and unknown fields do not matter to the reader.
        XCTAssertEqual(UnitReport(decoding: bytes(#" { "wire" : 1, "pid" : 7, "operations" : ["get"], "extra": true } "#)),
                       UnitReport(operations: ["get"], pid: 7))
    }

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

    func testHeartbeatAndDisconnect() {
        assertGolden(.heartbeat, [[], hex("4d 44 50 57 30 31"), hex("04")])
        assertGolden(.disconnect, [[], hex("4d 44 50 57 30 31"), hex("05")])
    }

    func testAssign() {
        let message = UnitMessage.assign(leases: [
            Lease(partition: 1, epoch: 2, role: .primary),
            Lease(partition: 271, epoch: 0x0102_0304_0506_0708, role: .backup),
        ])
        assertGolden(message, [
            [], hex("4d 44 50 57 30 31"), hex("10"),
            hex("""
                00 00 00 01  00 00 00 00 00 00 00 02  01
                00 00 01 0f  01 02 03 04 05 06 07 08  02
                """),
        ])
    }

    func testAssignWithNoLeasesIsOneEmptyFrame() {
        assertGolden(.assign(leases: []), [[], hex("4d 44 50 57 30 31"), hex("10"), []])
    }

    func testCommandProperty() {
        XCTAssertEqual(UnitMessage.heartbeat.command, .heartbeat)
        XCTAssertEqual(UnitMessage.assign(leases: []).command, .assign)
        XCTAssertEqual(UnitMessage.ready(section: "s", unit: "u", report: UnitReport(operations: [], pid: 0)).command, .ready)
    }

    func testDecodingASliceThatDoesNotStartAtZero() {
        let frames: [[UInt8]] = [hex("00 6b 8b 45 67"), [], Golden.mdpw01, hex("04")]
        XCTAssertEqual(UnitMessage.decode(frames[1...]), .success(.heartbeat))
        let assign: [[UInt8]] = [hex("aa"), [], Golden.mdpw01, hex("10"), hex("00 00 00 05 00 00 00 00 00 00 00 09 01")]
        XCTAssertEqual(UnitMessage.decode(assign[1...]), .success(.assign(leases: [Lease(partition: 5, epoch: 9, role: .primary)])))
    }
}
