import GridCore
import GridWire
import XCTest

/// Byte-level pins of request ids, request records and request tables (`RequestWire`),
/// and their refusal of anything malformed.
final class RequestWireTests: XCTestCase {
    // MARK: - Request ids

    func testRequestIDIsSequenceFloorThenTheClient() {
        XCTAssertEqual(RequestWire.encode(Golden.ridValue), hex("""
            00 00 00 00 00 00 00 05
            00 00 00 00 00 00 00 03
            61 70 70 2d 31
            """))                                                   // sequence u64, floor u64, client "app-1"
        XCTAssertEqual(RequestWire.decodeID(Golden.rid), Golden.ridValue)
        let wide = RequestID(client: hex("00 ff"), sequence: 0x0102_0304_0506_0708, floor: 0x1112_1314_1516_1718)
        XCTAssertEqual(RequestWire.encode(wide), hex("01 02 03 04 05 06 07 08  11 12 13 14 15 16 17 18  00 ff"))
        XCTAssertEqual(RequestWire.decodeID(RequestWire.encode(wide)), wide)
        XCTAssertEqual(RequestID(client: [1], sequence: 1).floor, 0, "no promise unless told")
    }

    func testRequestIDClientIs1To64Bytes() {
        let head = hex("00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03")
        for count in [1, 2, 63, 64] {
            let client = Array(repeating: UInt8(0x63), count: count)
            XCTAssertEqual(RequestWire.decodeID(head + client), RequestID(client: client, sequence: 5, floor: 3), "\(count) bytes")
        }
        XCTAssertNil(RequestWire.decodeID([]), "empty")
        for count in [1, 8, 15] {
            XCTAssertNil(RequestWire.decodeID(Array(head.prefix(count))), "\(count) bytes: too short")
        }
        XCTAssertNil(RequestWire.decodeID(head), "no client")
        XCTAssertNil(RequestWire.decodeID(head + Array(repeating: 0x63, count: 65)), "a 65-byte client")
        XCTAssertNil(RequestWire.decodeID(head + Array(repeating: 0x63, count: 1_000)), "a 1000-byte client")
        // The encoder does not check: what it writes for a longer client is refused on the other side.
        XCTAssertNil(RequestWire.decodeID(RequestWire.encode(RequestID(client: Array(repeating: 0x63, count: 65), sequence: 1))))
    }

    func testRequestIDDecodesFromASliceThatDoesNotStartAtZero() {
        // MDP carries it after "RID:": the decoder reads the slice in place.
        let frame = Golden.mdpRID
        XCTAssertEqual(RequestWire.decodeID(frame.dropFirst(4)), Golden.ridValue)
        XCTAssertEqual(RequestWire.decodeID(frame[4...]), Golden.ridValue)
        XCTAssertNil(RequestWire.decodeID(frame.dropFirst(4).dropLast(5)), "no client")
        XCTAssertEqual(RequestWire.decodeID(frame.dropFirst(4).dropLast(4)), RequestID(client: [0x61], sequence: 5, floor: 3))
    }

    func testRandomRequestIDsRoundTrip() {
        var random = SplitMix64(seed: 0x1D5)
        for _ in 0..<500 {
            let id = RequestID(client: (0..<(1 + random.below(64))).map { _ in UInt8(truncatingIfNeeded: random.next()) },
                               sequence: random.next(), floor: random.next())
            let frame = RequestWire.encode(id)
            XCTAssertEqual(frame.count, 16 + id.client.count)
            XCTAssertEqual(RequestWire.decodeID(frame), id)
        }
    }

    // MARK: - Records

    /// `app-1` #5 (floor 3) answered 200 "v1" at version 9.
    private let record = RequestRecord(id: Golden.ridValue, reply: RecordedReply(status: .ok, payload: Array("v1".utf8), version: 9))
    private let recordBytes = hex("""
        00 00 00 00 00 00 00 05
        00 00 00 00 00 00 00 03
        00 00 00 c8
        00 00 00 00 00 00 00 09
        05 61 70 70 2d 31
        00 00 00 02 76 31
        """) // sequence u64, floor u64, status u32, version u64, client length u8, client, payload length u32, payload

    func testRecord() {
        XCTAssertEqual(RequestWire.encode(record), recordBytes)
        XCTAssertEqual(recordBytes.count, 40)
        XCTAssertEqual(RequestWire.decodeRecord(recordBytes), record)
    }

    func testRecordOfAnErrorWithAnEmptyPayloadAndTheLongestClient() {
        let error = RequestRecord(id: RequestID(client: Array(repeating: 0xee, count: 64), sequence: .max, floor: .max),
                                  reply: RecordedReply(status: .conflict, payload: [], version: 0))
        XCTAssertEqual(RequestWire.encode(error), Array(repeating: 0xff, count: 16) + hex("00 00 01 99") + Array(repeating: 0, count: 8)
            + hex("40") + Array(repeating: 0xee, count: 64) + hex("00 00 00 00"))
        XCTAssertEqual(RequestWire.decodeRecord(RequestWire.encode(error)), error)
    }

    func testEveryStatusRoundTripsInARecord() {
        for status in Status.allCases {
            let recorded = RequestRecord(id: Golden.ridValue, reply: RecordedReply(status: status, payload: [1, 2], version: 3))
            let frame = RequestWire.encode(recorded)
            XCTAssertEqual(Array(frame[16..<20]), [0, 0, UInt8(status.rawValue >> 8), UInt8(status.rawValue & 0xff)])
            XCTAssertEqual(RequestWire.decodeRecord(frame), recorded)
        }
    }

    func testMalformedRecordsAreRefused() {
        XCTAssertNil(RequestWire.decodeRecord([]))
        for size in 1..<recordBytes.count {
            XCTAssertNil(RequestWire.decodeRecord(Array(recordBytes.prefix(size))), "cut after \(size) bytes")
        }
        XCTAssertNil(RequestWire.decodeRecord(recordBytes + [0]), "a trailing byte")
        XCTAssertNil(RequestWire.decodeRecord(recordBytes + recordBytes), "two records in one frame")
        func with(_ offset: Int, _ replacement: [UInt8]) -> [UInt8] {
            var bytes = recordBytes
            bytes.replaceSubrange(offset..<offset + replacement.count, with: replacement)
            return bytes
        }
        for status in [hex("00 00 00 c9"), hex("00 00 00 00"), hex("00 01 00 c8"), hex("ff ff ff ff"), hex("00 00 03 e7")] {
            XCTAssertNil(RequestWire.decodeRecord(with(16, status)), "status \(status)") // 201, 0, 65736 (200 + 2^16), all ones, 999
        }
        XCTAssertNil(RequestWire.decodeRecord(with(28, [0])), "a client length of 0")
        XCTAssertNil(RequestWire.decodeRecord(with(28, [6])), "a client length past the client")
        XCTAssertNil(RequestWire.decodeRecord(with(28, [0xff])), "a client length of 255")
        XCTAssertNil(RequestWire.decodeRecord(with(34, hex("00 00 00 03"))), "a payload length past the frame")
        XCTAssertNil(RequestWire.decodeRecord(with(34, hex("ff ff ff ff"))), "a payload length of 2^32 - 1")
        XCTAssertNil(RequestWire.decodeRecord(with(34, hex("00 00 00 01"))), "a payload length short of the frame")
        // A 65-byte client is refused even when every byte is there.
        let long = RequestRecord(id: RequestID(client: Array(repeating: 0x63, count: 65), sequence: 1), reply: RecordedReply(status: .ok, payload: [], version: 1))
        XCTAssertNil(RequestWire.decodeRecord(RequestWire.encode(long)))
    }

    // MARK: - Tables

    /// Client "b": one reply; client "app-1": two replies, a floor and an eviction mark.
    private var table: RequestTable {
        RequestTable(imported: [
            (client: Array("app-1".utf8), window: RequestTable.Window(
                replies: [
                    5: RequestTable.Entry(reply: RecordedReply(status: .ok, payload: Array("v1".utf8), version: 9), recordedAt: 9),
                    7: RequestTable.Entry(reply: RecordedReply(status: .conflict, payload: [], version: 11), recordedAt: 12),
                ],
                floor: 3, evictedThrough: 2, lastUsed: 12)),
            (client: Array("b".utf8), window: RequestTable.Window(
                replies: [1: RequestTable.Entry(reply: RecordedReply(status: .ok, payload: [], version: 4), recordedAt: 4)],
                lastUsed: 4)),
        ])
    }

    /// Clients oldest first (by last use), replies by sequence.
    private let tableBytes = hex("""
        01 62
        00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 04  00 00 00 01
        00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 04  00 00 00 c8  00 00 00 00 00 00 00 04  00 00 00 00
        05 61 70 70 2d 31
        00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 0c  00 00 00 02
        00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 09  00 00 00 c8  00 00 00 00 00 00 00 09  00 00 00 02 76 31
        00 00 00 00 00 00 00 07  00 00 00 00 00 00 00 0c  00 00 01 99  00 00 00 00 00 00 00 0b  00 00 00 00
        """) // per client: length u8, client, floor u64, evicted-through u64, last used u64, count u32,
             // then per reply: sequence u64, recorded at u64, status u32, version u64, payload (u32-prefixed)

    func testTable() {
        XCTAssertEqual(RequestWire.encode(table), tableBytes)
        XCTAssertEqual(RequestWire.decodeTable(tableBytes), table)
        XCTAssertEqual(RequestWire.decodeTable(tableBytes)?.clientCount, 2)
        XCTAssertEqual(RequestWire.decodeTable(tableBytes)?.lookup(RequestID(client: Array("app-1".utf8), sequence: 7)),
                       .replay(RequestTable.Entry(reply: RecordedReply(status: .conflict, payload: [], version: 11), recordedAt: 12)))
        XCTAssertEqual(RequestWire.decodeTable(tableBytes)?.lookup(RequestID(client: Array("app-1".utf8), sequence: 2)), .expired)
    }

    func testAnEmptyTableIsAnEmptyFrame() {
        XCTAssertEqual(RequestWire.encode(RequestTable()), [])
        XCTAssertEqual(RequestWire.decodeTable([]), RequestTable())
        XCTAssertEqual(RequestWire.decodeTable([])?.isEmpty, true)
    }

    func testAClientWithNoRepliesLeft() {
        let window = RequestTable.Window(floor: 9, evictedThrough: 8, lastUsed: 7)
        let only = RequestTable(imported: [(client: [0x7a], window: window)])
        XCTAssertEqual(RequestWire.encode(only), hex("01 7a  00 00 00 00 00 00 00 09  00 00 00 00 00 00 00 08  00 00 00 00 00 00 00 07  00 00 00 00"))
        XCTAssertEqual(RequestWire.decodeTable(RequestWire.encode(only)), only)
    }

    func testATableBuiltByRecordingRoundTrips() {
        var recorded = RequestTable()
        func reply(_ version: UInt64) -> RecordedReply { RecordedReply(status: .ok, payload: Array("\(version)".utf8), version: version) }
        recorded.record(RequestRecord(id: RequestID(client: [0x61], sequence: 1), reply: reply(10)), at: 10)
        recorded.record(RequestRecord(id: RequestID(client: [0x62], sequence: 1), reply: reply(11)), at: 11)
        recorded.record(RequestRecord(id: RequestID(client: [0x61], sequence: 2, floor: 2), reply: reply(12)), at: 12) // drops a #1
        recorded.record(RequestRecord(id: RequestID(client: [0x63], sequence: 9), reply: reply(13)), at: 13)
        let frame = RequestWire.encode(recorded)
        XCTAssertEqual(RequestWire.decodeTable(frame), recorded)
        XCTAssertEqual(RequestWire.encode(RequestWire.decodeTable(frame)!), frame, "the same bytes again")
        XCTAssertEqual(Array(frame.prefix(2)), hex("01 62"), "b (last used at 11) comes first")
    }

    func testTablesWithManyClientsRoundTrip() {
        var random = SplitMix64(seed: 0x7AB1E)
        for round in 0..<40 {
            var windows: [(client: [UInt8], window: RequestTable.Window)] = []
            var clients = Set<[UInt8]>()
            for index in 0..<random.below(30) {
                let client = (0..<(1 + random.below(64))).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                guard clients.insert(client).inserted else { continue }
                var window = RequestTable.Window(floor: random.next() % 100, evictedThrough: random.next() % 100, lastUsed: UInt64(1_000 * round + index))
                for _ in 0..<random.below(5) {
                    let status = Status.allCases[random.below(Status.allCases.count)]
                    window.replies[random.next()] = RequestTable.Entry(
                        reply: RecordedReply(status: status, payload: (0..<random.below(40)).map { _ in UInt8(truncatingIfNeeded: random.next()) },
                                             version: random.next()),
                        recordedAt: random.next())
                }
                windows.append((client, window))
            }
            let original = RequestTable(imported: windows)
            let frame = RequestWire.encode(original)
            XCTAssertEqual(RequestWire.decodeTable(frame), original, "round \(round)")
            XCTAssertEqual(RequestWire.decodeTable(frame)?.clientCount, windows.count)
            XCTAssertEqual(RequestWire.encode(RequestWire.decodeTable(frame)!), frame, "round \(round): the same bytes again")
        }
    }

    func testMalformedTablesAreRefused() {
        // The first client's window ends after 62 bytes: any other cut leaves a client or a reply unfinished.
        for size in 1..<tableBytes.count where size != 62 {
            XCTAssertNil(RequestWire.decodeTable(Array(tableBytes.prefix(size))), "cut after \(size) bytes")
        }
        XCTAssertEqual(RequestWire.decodeTable(Array(tableBytes.prefix(62)))?.clientCount, 1)
        XCTAssertNil(RequestWire.decodeTable(tableBytes + [0x01]), "a trailing client length without a client")
        XCTAssertNil(RequestWire.decodeTable(tableBytes + [0x00]), "a trailing zero")
        func with(_ offset: Int, _ replacement: [UInt8]) -> [UInt8] {
            var bytes = tableBytes
            bytes.replaceSubrange(offset..<offset + replacement.count, with: replacement)
            return bytes
        }
        XCTAssertNil(RequestWire.decodeTable(hex("00") + Array(tableBytes.dropFirst(2))), "a client length of 0")
        XCTAssertNil(RequestWire.decodeTable(hex("41") + Array(repeating: 0x63, count: 65) + Array(tableBytes.dropFirst(2))), "a 65-byte client")
        XCTAssertNil(RequestWire.decodeTable(with(26, hex("ff ff ff ff"))), "a reply count beyond the frame")
        XCTAssertNil(RequestWire.decodeTable(with(26, hex("00 00 00 02"))), "a reply count one too many")
        for status in [hex("00 00 00 c9"), hex("00 01 00 c8"), hex("00 00 00 00")] {
            XCTAssertNil(RequestWire.decodeTable(with(46, status)), "status \(status)")
        }
        XCTAssertNil(RequestWire.decodeTable(with(58, hex("00 00 00 05"))), "a payload length past the frame")
        XCTAssertNil(RequestWire.decodeTable(with(58, hex("ff ff ff ff"))), "a payload length of 2^32 - 1")
    }
}
