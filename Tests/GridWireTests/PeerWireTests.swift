import GridCore
import GridWire
import XCTest

/// Byte-level pins of the peer protocol `SGP01` between a primary's replication
/// ROUTER and its backups' DEALERs (PROTOCOL.md, "Peer protocol").
final class PeerWireTests: XCTestCase {
    private let sgp01 = hex("53 47 50 30 31")                            // "SGP01"
    private let customer2 = hex("63 75 73 74 6f 6d 65 72 2d 32")         // "customer-2"

    private func assertGolden(_ message: PeerMessage, _ expected: [[UInt8]], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(message.frames, expected, file: file, line: line)
        XCTAssertEqual(PeerMessage.decode(expected[...]), message, "decoding the golden frames", file: file, line: line)
        XCTAssertEqual(PeerMessage.decode(message.frames[...]), message, "decode(encode(x)) == x", file: file, line: line)
    }

    func testHeader() {
        XCTAssertEqual(PeerMessage.header, sgp01)
    }

    // MARK: - Backup -> primary

    func testAcknowledge() {
        assertGolden(.acknowledge(unit: "customer-2", records: [
            PeerMessage.AckRecord(partition: 1, epoch: 2, sequence: 3),
            PeerMessage.AckRecord(partition: 271, epoch: 4, sequence: 0x0102_0304_0506_0708),
        ]), [
            sgp01,
            hex("01"),                                                     // ACKNOWLEDGE
            customer2,                                                     // the backup's unit name
            hex("""
                00 00 00 01  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 03
                00 00 01 0f  00 00 00 00 00 00 00 04  01 02 03 04 05 06 07 08
                """),                                                      // partition u32, epoch u64, sequence u64: 20 bytes each
        ])
        assertGolden(.acknowledge(unit: "b", records: []), [sgp01, hex("01"), hex("62"), []])
    }

    func testStored() {
        assertGolden(.stored(mirror: "mirror", records: [PeerMessage.AckRecord(partition: 3, epoch: 0, sequence: 9)]), [
            sgp01,
            hex("07"),                                                     // STORED
            Array("mirror".utf8),                                          // the mirror's name
            hex("00 00 00 03  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 09"),
        ])
        XCTAssertNil(PeerMessage.decode([sgp01, hex("07"), Array("mirror".utf8), hex("00 01")][...]), "a record cut short")
    }

    func testSnapshotRequest() {
        assertGolden(.snapshotRequest(unit: "customer-2", partition: 17, epoch: 3), [
            sgp01, hex("02"), customer2,
            hex("00 00 00 11  00 00 00 00 00 00 00 03"),                   // partition u32, epoch u64
        ])
    }

    func testCatchUpRequest() {
        assertGolden(.catchUpRequest(unit: "customer-2", partition: 17, epoch: 3, from: 42), [
            sgp01, hex("03"), customer2,
            hex("00 00 00 11  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 2a"), // partition, epoch, from
        ])
    }

    // MARK: - Primary -> backup

    func testSnapshotChunk() {
        let message = PeerMessage.snapshotChunk(partition: 17, epoch: 3, sequence: 9, first: true, last: false, entries: [
            (bytes("42"), Entry(value: bytes(#"{"a":1}"#), version: 7)),
            (bytes("k"), Entry(value: [], version: 9)),
        ])
        assertGolden(message, [
            sgp01, hex("04"),
            hex("00 00 00 11  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 09  01"), // partition, epoch, sequence, flags (1 first, 2 last)
            hex("""
                00 00 00 02 34 32  00 00 00 00 00 00 00 07  00 00 00 07 7b 22 61 22 3a 31 7d
                00 00 00 01 6b     00 00 00 00 00 00 00 09  00 00 00 00
                """),                                                          // (key length u32, key, version u64, value length u32, value)...
        ])
        guard case .snapshotChunk(let partition, let epoch, let sequence, let first, let last, let entries)? = PeerMessage.decode(message.frames[...]) else {
            return XCTFail("not a snapshot chunk")
        }
        XCTAssertEqual([partition, Int(epoch), Int(sequence)], [17, 3, 9])
        XCTAssertEqual([first, last], [true, false])
        XCTAssertEqual(entries.map(\.0), [bytes("42"), bytes("k")])
        XCTAssertEqual(entries.map(\.1), [Entry(value: bytes(#"{"a":1}"#), version: 7), Entry(value: [], version: 9)])
    }

    func testSnapshotChunkFlags() {
        for (first, last, flags) in [(false, false, UInt8(0)), (true, false, 1), (false, true, 2), (true, true, 3)] {
            let message = PeerMessage.snapshotChunk(partition: 0, epoch: 1, sequence: 0, first: first, last: last, entries: [])
            assertGolden(message, [sgp01, hex("04"), hex("00 00 00 00  00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 00") + [flags], []])
        }
    }

    func testChanges() {
        let changes = [
            Change(partition: 17, epoch: 3, sequence: 10, key: bytes("42"), version: 10, kind: .put, value: bytes("v")),
            Change(partition: 17, epoch: 3, sequence: 11, key: bytes("42"), version: 11, kind: .delete, value: []),
        ]
        let message = PeerMessage.changes(partition: 17, epoch: 3, changes: changes)
        assertGolden(message, [
            sgp01, hex("05"),
            hex("00 00 00 11  00 00 00 00 00 00 00 03"),                             // partition, epoch
            hex("""
                00 00 00 00 00 00 00 0a  01  00 00 00 00 00 00 00 0a  00 00 00 02 34 32  00 00 00 01 76
                00 00 00 00 00 00 00 0b  02  00 00 00 00 00 00 00 0b  00 00 00 02 34 32  00 00 00 00
                """),                                                                // (sequence, kind, version, key, value)...
        ])
        guard case .changes(_, _, let decoded)? = PeerMessage.decode(message.frames[...]) else { return XCTFail("not changes") }
        XCTAssertEqual(decoded, changes, "every change takes the message's partition and epoch")
        assertGolden(.changes(partition: 1, epoch: 1, changes: []), [sgp01, hex("05"), hex("00 00 00 01  00 00 00 00 00 00 00 01"), []])
    }

    func testRefused() {
        assertGolden(.refused(partition: 17, epoch: 3), [sgp01, hex("06"), hex("00 00 00 11  00 00 00 00 00 00 00 03")])
    }

    func testDecodingASliceAfterTheRoutingID() {
        let frames: [[UInt8]] = [hex("00 80 00 00 29"), sgp01, hex("06"), hex("00 00 00 01  00 00 00 00 00 00 00 02")]
        XCTAssertEqual(PeerMessage.decode(frames[1...]), .refused(partition: 1, epoch: 2))
    }

    func testRoundTripsOfRandomMessages() {
        var random = SplitMix64(seed: 0x5097)
        func someBytes(_ limit: Int) -> [UInt8] { (0..<random.below(limit + 1)).map { _ in UInt8(truncatingIfNeeded: random.next()) } }
        for _ in 0..<300 {
            let partition = random.below(1 << 20), epoch = random.next()
            let message: PeerMessage
            switch random.below(6) {
            case 0:
                message = .acknowledge(unit: "u\(random.below(100))", records: (0..<random.below(5)).map { _ in
                    PeerMessage.AckRecord(partition: random.below(1 << 20), epoch: random.next(), sequence: random.next())
                })
            case 1: message = .snapshotRequest(unit: "u\(random.below(100))", partition: partition, epoch: epoch)
            case 2: message = .catchUpRequest(unit: "u\(random.below(100))", partition: partition, epoch: epoch, from: random.next())
            case 3:
                message = .snapshotChunk(partition: partition, epoch: epoch, sequence: random.next(), first: random.below(2) == 0,
                                         last: random.below(2) == 0, entries: (0..<random.below(5)).map { _ in
                                             (someBytes(20), Entry(value: someBytes(50), version: random.next()))
                                         })
            case 4:
                message = .changes(partition: partition, epoch: epoch, changes: (0..<random.below(5)).map { _ in
                    let kind: Change.Kind = random.below(2) == 0 ? .put : .delete
                    let sequence = random.next()
                    return Change(partition: partition, epoch: epoch, sequence: sequence, key: someBytes(20), version: sequence, kind: kind,
                                  value: kind == .put ? someBytes(50) : [])
                })
            default: message = .refused(partition: partition, epoch: epoch)
            }
            XCTAssertEqual(PeerMessage.decode(message.frames[...]), message)
        }
    }

    // MARK: - Malformed

    private func assertRefused(_ frames: [[UInt8]], _ why: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNil(PeerMessage.decode(frames[...]), why, file: file, line: line)
    }

    func testHeaderAndCommandByte() {
        let body = hex("00 00 00 11  00 00 00 00 00 00 00 03")
        XCTAssertNotNil(PeerMessage.decode([sgp01, hex("06"), body][...]))
        assertRefused([], "no frames")
        assertRefused([sgp01, hex("06")], "two frames")
        assertRefused([hex("53 47 50 30 32"), hex("06"), body], "SGP02")
        assertRefused([hex("4d 44 50 57 30 31"), hex("06"), body], "MDPW01")
        assertRefused([[], sgp01, hex("06"), body], "an empty delimiter first")
        for command in [hex("00"), hex("07"), hex("ff"), [], hex("06 00"), hex("36")] {
            assertRefused([sgp01, command, body], "command \(command)")
        }
    }

    func testMalformedAcknowledge() {
        let record = hex("00 00 00 01  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 03")
        XCTAssertNotNil(PeerMessage.decode([sgp01, hex("01"), customer2, record][...]))
        assertRefused([sgp01, hex("01"), customer2], "no records frame")
        assertRefused([sgp01, hex("01"), customer2, record, []], "an extra frame")
        for size in [1, 12, 19, 21, 39] {
            assertRefused([sgp01, hex("01"), customer2, Array((record + record).prefix(size))], "\(size) bytes of records")
        }
        assertRefused([sgp01, hex("01"), hex("ff fe"), record], "a unit name that is not UTF-8")
    }

    func testMalformedRequests() {
        let snapshot = hex("00 00 00 11  00 00 00 00 00 00 00 03")
        let catchUp = snapshot + hex("00 00 00 00 00 00 00 2a")
        XCTAssertNotNil(PeerMessage.decode([sgp01, hex("02"), customer2, snapshot][...]))
        XCTAssertNotNil(PeerMessage.decode([sgp01, hex("03"), customer2, catchUp][...]))
        assertRefused([sgp01, hex("02"), customer2], "snapshot request without a body")
        assertRefused([sgp01, hex("02"), customer2, snapshot, []], "snapshot request with an extra frame")
        assertRefused([sgp01, hex("02"), customer2, Array(snapshot.dropLast())], "an 11-byte snapshot request")
        assertRefused([sgp01, hex("02"), customer2, snapshot + [0]], "a 13-byte snapshot request")
        assertRefused([sgp01, hex("02"), hex("c3"), snapshot], "a unit name that is not UTF-8")
        assertRefused([sgp01, hex("03"), customer2], "catch-up request without a body")
        assertRefused([sgp01, hex("03"), customer2, catchUp, []], "catch-up request with an extra frame")
        assertRefused([sgp01, hex("03"), customer2, snapshot], "a catch-up request without from")
        assertRefused([sgp01, hex("03"), customer2, Array(catchUp.dropLast())], "a 19-byte catch-up request")
        assertRefused([sgp01, hex("03"), customer2, catchUp + [0]], "a 21-byte catch-up request")
        assertRefused([sgp01, hex("03"), hex("80"), catchUp], "a unit name that is not UTF-8")
    }

    func testMalformedSnapshotChunks() {
        let head = hex("00 00 00 11  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 09  03")
        let entry = hex("00 00 00 02 34 32  00 00 00 00 00 00 00 07  00 00 00 01 76")
        XCTAssertNotNil(PeerMessage.decode([sgp01, hex("04"), head, entry][...]))
        assertRefused([sgp01, hex("04"), head], "no entries frame")
        assertRefused([sgp01, hex("04"), head, entry, []], "an extra frame")
        assertRefused([sgp01, hex("04"), Array(head.dropLast()), entry], "a 20-byte head")
        assertRefused([sgp01, hex("04"), head + [0], entry], "a 22-byte head")
        for size in 1..<entry.count {
            assertRefused([sgp01, hex("04"), head, Array(entry.prefix(size))], "an entry cut after \(size) bytes")
            assertRefused([sgp01, hex("04"), head, entry + Array(entry.prefix(size))], "a second entry cut after \(size) bytes")
        }
        assertRefused([sgp01, hex("04"), head, hex("ff ff ff ff 34 32")], "a key length beyond the frame")
        assertRefused([sgp01, hex("04"), head, hex("00 00 00 02 34 32  00 00 00 00 00 00 00 07  80 00 00 00 76")],
                      "a value length beyond the frame")
    }

    func testMalformedChanges() {
        let head = hex("00 00 00 11  00 00 00 00 00 00 00 03")
        let change = hex("00 00 00 00 00 00 00 0a  01  00 00 00 00 00 00 00 0a  00 00 00 02 34 32  00 00 00 01 76")
        XCTAssertNotNil(PeerMessage.decode([sgp01, hex("05"), head, change][...]))
        assertRefused([sgp01, hex("05"), head], "no changes frame")
        assertRefused([sgp01, hex("05"), head, change, []], "an extra frame")
        assertRefused([sgp01, hex("05"), Array(head.dropLast()), change], "an 11-byte head")
        assertRefused([sgp01, hex("05"), head + [0], change], "a 13-byte head")
        for kind: UInt8 in [0, 3, 0xff] {
            var bad = change
            bad[8] = kind
            assertRefused([sgp01, hex("05"), head, bad], "kind \(kind)")
        }
        for size in 1..<change.count {
            assertRefused([sgp01, hex("05"), head, Array(change.prefix(size))], "a change cut after \(size) bytes")
            assertRefused([sgp01, hex("05"), head, change + Array(change.prefix(size))], "a second change cut after \(size) bytes")
        }
    }

    func testMalformedRefusal() {
        let body = hex("00 00 00 11  00 00 00 00 00 00 00 03")
        assertRefused([sgp01, hex("06"), body, []], "an extra frame")
        assertRefused([sgp01, hex("06"), Array(body.dropLast())], "11 bytes")
        assertRefused([sgp01, hex("06"), body + [0]], "13 bytes")
        assertRefused([sgp01, hex("06"), []], "empty")
    }
}
