import GridCore
import GridWire
import XCTest

/// Byte-level pins of the peer protocol `SGP02` between a primary's replication
/// ROUTER and its backups' (and the mirror's) DEALERs (PROTOCOL.md, "Peer protocol").
final class PeerWireTests: XCTestCase {
    private let sgp02 = hex("53 47 50 30 32")                            // "SGP02"
    private let customer2 = hex("63 75 73 74 6f 6d 65 72 2d 32")         // "customer-2"

    private func assertGolden(_ message: PeerMessage, _ expected: [[UInt8]], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(message.frames, expected, file: file, line: line)
        XCTAssertEqual(PeerMessage.decode(expected[...]), message, "decoding the golden frames", file: file, line: line)
        XCTAssertEqual(PeerMessage.decode(message.frames[...]), message, "decode(encode(x)) == x", file: file, line: line)
    }

    /// A request table with one client ("b", one reply), and its bytes (RequestWireTests pins the layout).
    private let table = RequestTable(imported: [(client: [0x62], window: RequestTable.Window(
        replies: [1: RequestTable.Entry(reply: RecordedReply(status: .ok, payload: [], version: 4), recordedAt: 4)], lastUsed: 4))])
    private let tableBytes = hex("""
        01 62  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 04  00 00 00 01
        00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 04  00 00 00 c8  00 00 00 00 00 00 00 04  00 00 00 00
        """)

    func testHeader() {
        XCTAssertEqual(PeerMessage.header, sgp02)
    }

    // MARK: - Backup -> primary

    func testAcknowledge() {
        assertGolden(.acknowledge(unit: "customer-2", records: [
            PeerMessage.AckRecord(partition: 1, epoch: 2, sequence: 3, follow: 4),
            PeerMessage.AckRecord(partition: 271, epoch: 4, sequence: 0x0102_0304_0506_0708, follow: 0xa1b2_c3d4_e5f6_0718),
        ]), [
            sgp02,
            hex("01"),                                                     // ACKNOWLEDGE
            customer2,                                                     // the backup's unit name
            hex("""
                00 00 00 01  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 04
                00 00 01 0f  00 00 00 00 00 00 00 04  01 02 03 04 05 06 07 08  a1 b2 c3 d4 e5 f6 07 18
                """),                                                      // partition u32, epoch u64, sequence u64, follow u64: 28 bytes each
        ])
        assertGolden(.acknowledge(unit: "b", records: []), [sgp02, hex("01"), hex("62"), []])
        XCTAssertEqual(PeerMessage.AckRecord(partition: 1, epoch: 1, sequence: 1).follow, 0, "follow 0 unless told")
    }

    func testSnapshotRequest() {
        assertGolden(.snapshotRequest(unit: "customer-2", partition: 17, epoch: 3, follow: 42), [
            sgp02, hex("02"), customer2,
            hex("00 00 00 11  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 2a"), // partition u32, epoch u64, follow u64
        ])
    }

    func testCatchUpRequest() {
        assertGolden(.catchUpRequest(unit: "customer-2", partition: 17, epoch: 3, from: 42, dataEpoch: 2, follow: 7), [
            sgp02, hex("03"), customer2,
            hex("""
                00 00 00 11  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 2a  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 07
                """),                                                      // partition, epoch, from, data epoch, follow
        ])
        // The mirror's catch-up: follow 0.
        assertGolden(.catchUpRequest(unit: "mirror", partition: 0, epoch: 1, from: 1, dataEpoch: 0, follow: 0), [
            sgp02, hex("03"), hex("6d 69 72 72 6f 72"),
            hex("00 00 00 00  00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00"),
        ])
    }

    // MARK: - Primary -> backup

    func testSnapshotChunk() {
        let chunk = PeerMessage.SnapshotChunk(partition: 17, epoch: 3, sequence: 9, lastEpoch: 2, committed: 8, first: true, last: false, entries: [
            (bytes("42"), Entry(value: bytes(#"{"a":1}"#), version: 7)),
            (bytes("k"), Entry(value: [], version: 9)),
        ])
        assertGolden(.snapshotChunk(chunk), [
            sgp02, hex("04"),
            hex("""
                00 00 00 11  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 09  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 08  01
                """),                                                                // partition, epoch, sequence, last epoch, committed, flags (1 first, 2 last)
            hex("""
                00 00 00 02 34 32  00 00 00 00 00 00 00 07  00 00 00 07 7b 22 61 22 3a 31 7d
                00 00 00 01 6b     00 00 00 00 00 00 00 09  00 00 00 00
                """),                                                                // (key length u32, key, version u64, value length u32, value)...
        ])
        XCTAssertEqual(PeerMessage.snapshotChunk(chunk).frames[2].count, 37, "a 37-byte head")
        guard case .snapshotChunk(let decoded)? = PeerMessage.decode(PeerMessage.snapshotChunk(chunk).frames[...]) else {
            return XCTFail("not a snapshot chunk")
        }
        XCTAssertEqual([decoded.partition, Int(decoded.epoch), Int(decoded.sequence), Int(decoded.lastEpoch), Int(decoded.committed)], [17, 3, 9, 2, 8])
        XCTAssertEqual([decoded.first, decoded.last], [true, false])
        XCTAssertEqual(decoded.entries.map(\.0), [bytes("42"), bytes("k")])
        XCTAssertEqual(decoded.entries.map(\.1), [Entry(value: bytes(#"{"a":1}"#), version: 7), Entry(value: [], version: 9)])
        XCTAssertNil(decoded.requests, "four frames: no request table")
    }

    func testTheLastSnapshotChunkCarriesTheRequestTable() {
        let chunk = PeerMessage.SnapshotChunk(partition: 17, epoch: 3, sequence: 9, lastEpoch: 3, committed: 9, first: false, last: true,
                                              entries: [(bytes("k"), Entry(value: bytes("v"), version: 9))], requests: table)
        assertGolden(.snapshotChunk(chunk), [
            sgp02, hex("04"),
            hex("00 00 00 11  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 09  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 09  02"),
            hex("00 00 00 01 6b  00 00 00 00 00 00 00 09  00 00 00 01 76"),
            tableBytes,                                                              // the request table (RequestWire)
        ])
        guard case .snapshotChunk(let decoded)? = PeerMessage.decode(PeerMessage.snapshotChunk(chunk).frames[...]) else {
            return XCTFail("not a snapshot chunk")
        }
        XCTAssertEqual(decoded.requests, table)
        XCTAssertEqual(decoded, chunk)
    }

    func testAnEmptyRequestTableIsAnEmptyFifthFrameNotAMissingOne() {
        let empty = PeerMessage.SnapshotChunk(partition: 0, epoch: 1, sequence: 0, lastEpoch: 0, committed: 0, first: true, last: true,
                                              entries: [], requests: RequestTable())
        let head = hex("00 00 00 00  00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  03")
        assertGolden(.snapshotChunk(empty), [sgp02, hex("04"), head, [], []])
        var none = empty
        none.requests = nil
        assertGolden(.snapshotChunk(none), [sgp02, hex("04"), head, []])
        XCTAssertNotEqual(PeerMessage.snapshotChunk(empty), .snapshotChunk(none))
        guard case .snapshotChunk(let decoded)? = PeerMessage.decode([sgp02, hex("04"), head, [], []][...]) else { return XCTFail("not a chunk") }
        XCTAssertEqual(decoded.requests?.isEmpty, true)
    }

    func testSnapshotChunkFlags() {
        for (first, last, flags) in [(false, false, UInt8(0)), (true, false, 1), (false, true, 2), (true, true, 3)] {
            let chunk = PeerMessage.SnapshotChunk(partition: 0, epoch: 1, sequence: 0, lastEpoch: 0, committed: 0, first: first, last: last, entries: [])
            assertGolden(.snapshotChunk(chunk), [
                sgp02, hex("04"),
                hex("00 00 00 00  00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00") + [flags],
                [],
            ])
        }
        // Only the two low bits mean anything.
        let head = hex("00 00 00 00  00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  fe")
        guard case .snapshotChunk(let decoded)? = PeerMessage.decode([sgp02, hex("04"), head, []][...]) else { return XCTFail("not a chunk") }
        XCTAssertEqual([decoded.first, decoded.last], [false, true])
    }

    func testChanges() {
        let record = RequestRecord(id: Golden.ridValue, reply: RecordedReply(status: .ok, payload: [], version: 11))
        let changes = [
            Change(partition: 17, epoch: 3, sequence: 10, key: bytes("42"), version: 10, kind: .put, value: bytes("v")),
            Change(partition: 17, epoch: 4, sequence: 11, key: bytes("42"), version: 11, kind: .delete, value: [], request: record),
            Change(partition: 17, epoch: 4, sequence: 12, key: bytes("k"), version: 12, kind: .put, value: [], request: record),
        ]
        let message = PeerMessage.changes(partition: 17, epoch: 4, committed: 10, changes: changes)
        assertGolden(message, [
            sgp02, hex("05"),
            hex("00 00 00 11  00 00 00 00 00 00 00 04  00 00 00 00 00 00 00 0a"),    // partition, epoch, committed
            hex("""
                00 00 00 00 00 00 00 0a  00 00 00 00 00 00 00 03  01  00 00 00 00 00 00 00 0a  00 00 00 02 34 32  00 00 00 01 76
                00 00 00 00 00 00 00 0b  00 00 00 00 00 00 00 04  82  00 00 00 00 00 00 00 0b  00 00 00 02 34 32  00 00 00 00
                  00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03  00 00 00 c8  00 00 00 00 00 00 00 0b  05 61 70 70 2d 31  00 00 00 00
                00 00 00 00 00 00 00 0c  00 00 00 00 00 00 00 04  81  00 00 00 00 00 00 00 0c  00 00 00 01 6b     00 00 00 00
                  00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03  00 00 00 c8  00 00 00 00 00 00 00 0b  05 61 70 70 2d 31  00 00 00 00
                """),  // (sequence, epoch label, kind (bit 7: a request record follows), version, key, value [, record])...
        ])
        guard case .changes(let partition, let epoch, let committed, let decoded)? = PeerMessage.decode(message.frames[...]) else {
            return XCTFail("not changes")
        }
        XCTAssertEqual([partition, Int(epoch), Int(committed)], [17, 4, 10])
        XCTAssertEqual(decoded, changes, "each change keeps its own epoch label and request record; the partition is the message's")
        assertGolden(.changes(partition: 1, epoch: 1, committed: 0, changes: []),
                     [sgp02, hex("05"), hex("00 00 00 01  00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 00"), []])
    }

    func testRefused() {
        assertGolden(.refused(partition: 17, epoch: 3), [sgp02, hex("06"), hex("00 00 00 11  00 00 00 00 00 00 00 03")])
    }

    func testInSync() {
        assertGolden(.inSync(partition: 17, epoch: 3, follow: 0x0102_0304_0506_0708), [
            sgp02, hex("08"),
            hex("00 00 00 11  00 00 00 00 00 00 00 03  01 02 03 04 05 06 07 08"),    // partition, epoch, follow
        ])
    }

    // MARK: - Mirror <-> unit

    func testStored() {
        assertGolden(.stored(mirror: "mirror", records: [
            PeerMessage.StoredRecord(partition: 3, epoch: 2, sequence: 9),
            PeerMessage.StoredRecord(partition: 4, epoch: 1, sequence: 16, sealed: true),
        ]), [
            sgp02,
            hex("07"),                                                     // STORED
            hex("6d 69 72 72 6f 72"),                                      // the mirror's name
            hex("""
                00 00 00 03  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 09  00
                00 00 00 04  00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 10  01
                """),                                                      // partition u32, epoch u64, sequence u64, flags u8 (bit 0: sealed): 21 bytes each
        ])
        assertGolden(.stored(mirror: "m", records: []), [sgp02, hex("07"), hex("6d"), []])
        // Only bit 0 of the flags means anything.
        let frames = [sgp02, hex("07"), hex("6d"), hex("00 00 00 03  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 09  fe")]
        XCTAssertEqual(PeerMessage.decode(frames[...]), .stored(mirror: "m", records: [PeerMessage.StoredRecord(partition: 3, epoch: 2, sequence: 9, sealed: false)]))
    }

    func testSeal() {
        assertGolden(.seal(unit: "customer-2", records: [PeerMessage.AckRecord(partition: 3, epoch: 5, sequence: 99)]), [
            sgp02,
            hex("09"),                                                     // SEAL
            customer2,
            hex("00 00 00 03  00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 63  00 00 00 00 00 00 00 00"), // partition, epoch, sequence, follow 0
        ])
        assertGolden(.seal(unit: "u", records: []), [sgp02, hex("09"), hex("75"), []])
        XCTAssertNotEqual(PeerMessage.seal(unit: "u", records: []), .acknowledge(unit: "u", records: []), "the same body, another command")
    }

    func testDecodingASliceAfterTheRoutingID() {
        let frames: [[UInt8]] = [hex("00 80 00 00 29"), sgp02, hex("06"), hex("00 00 00 01  00 00 00 00 00 00 00 02")]
        XCTAssertEqual(PeerMessage.decode(frames[1...]), .refused(partition: 1, epoch: 2))
    }

    func testRoundTripsOfRandomMessages() {
        var random = SplitMix64(seed: 0x5097)
        func someBytes(_ limit: Int) -> [UInt8] { (0..<random.below(limit + 1)).map { _ in UInt8(truncatingIfNeeded: random.next()) } }
        func someRecord() -> RequestRecord {
            RequestRecord(id: RequestID(client: (0..<(1 + random.below(64))).map { _ in UInt8(truncatingIfNeeded: random.next()) },
                                        sequence: random.next(), floor: random.next()),
                          reply: RecordedReply(status: Status.allCases[random.below(Status.allCases.count)], payload: someBytes(30), version: random.next()))
        }
        func someTable() -> RequestTable {
            RequestTable(imported: (0..<random.below(4)).map { index in
                var window = RequestTable.Window(floor: random.next(), evictedThrough: random.next(), lastUsed: UInt64(index))
                for _ in 0..<random.below(3) {
                    let record = someRecord()
                    window.replies[record.id.sequence] = RequestTable.Entry(reply: record.reply, recordedAt: random.next())
                }
                return (client: [UInt8(index + 1)] + someBytes(10), window: window)
            })
        }
        var seen = Set<UInt8>()
        for _ in 0..<600 {
            let partition = random.below(1 << 20), epoch = random.next()
            let message: PeerMessage
            func ackRecords() -> [PeerMessage.AckRecord] {
                (0..<random.below(5)).map { _ in
                    PeerMessage.AckRecord(partition: random.below(1 << 20), epoch: random.next(), sequence: random.next(), follow: random.next())
                }
            }
            switch random.below(9) {
            case 0: message = .acknowledge(unit: "u\(random.below(100))", records: ackRecords())
            case 1: message = .snapshotRequest(unit: "u\(random.below(100))", partition: partition, epoch: epoch, follow: random.next())
            case 2:
                message = .catchUpRequest(unit: "u\(random.below(100))", partition: partition, epoch: epoch, from: random.next(), dataEpoch: random.next(),
                                          follow: random.next())
            case 3:
                message = .snapshotChunk(PeerMessage.SnapshotChunk(
                    partition: partition, epoch: epoch, sequence: random.next(), lastEpoch: random.next(), committed: random.next(),
                    first: random.below(2) == 0, last: random.below(2) == 0,
                    entries: (0..<random.below(5)).map { _ in (someBytes(20), Entry(value: someBytes(50), version: random.next())) },
                    requests: random.below(2) == 0 ? nil : someTable()))
            case 4:
                message = .changes(partition: partition, epoch: epoch, committed: random.next(), changes: (0..<random.below(5)).map { _ in
                    let kind: Change.Kind = random.below(2) == 0 ? .put : .delete
                    let sequence = random.next()
                    return Change(partition: partition, epoch: random.next(), sequence: sequence, key: someBytes(20), version: sequence, kind: kind,
                                  value: kind == .put ? someBytes(50) : [], request: random.below(2) == 0 ? nil : someRecord())
                })
            case 5: message = .refused(partition: partition, epoch: epoch)
            case 6:
                message = .stored(mirror: "m\(random.below(100))", records: (0..<random.below(5)).map { _ in
                    PeerMessage.StoredRecord(partition: random.below(1 << 20), epoch: random.next(), sequence: random.next(), sealed: random.below(2) == 0)
                })
            case 7: message = .inSync(partition: partition, epoch: epoch, follow: random.next())
            default: message = .seal(unit: "u\(random.below(100))", records: ackRecords())
            }
            seen.insert(message.frames[1][0])
            XCTAssertEqual(PeerMessage.decode(message.frames[...]), message)
        }
        XCTAssertEqual(seen, Set(1...9), "every command")
    }

    // MARK: - Malformed

    private func assertRefused(_ frames: [[UInt8]], _ why: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNil(PeerMessage.decode(frames[...]), why, file: file, line: line)
    }

    func testHeaderAndCommandByte() {
        let body = hex("00 00 00 11  00 00 00 00 00 00 00 03")
        XCTAssertNotNil(PeerMessage.decode([sgp02, hex("06"), body][...]))
        assertRefused([], "no frames")
        assertRefused([sgp02, hex("06")], "two frames")
        assertRefused([hex("53 47 50 30 31"), hex("06"), body], "SGP01")
        assertRefused([hex("53 47 50 30 33"), hex("06"), body], "SGP03")
        assertRefused([hex("4d 44 50 57 30 31"), hex("06"), body], "MDPW01")
        assertRefused([[], sgp02, hex("06"), body], "an empty delimiter first")
        for command in [hex("00"), hex("0a"), hex("10"), hex("ff"), [], hex("06 00"), hex("36")] {
            assertRefused([sgp02, command, body], "command \(command)")
        }
    }

    func testMalformedAcknowledgeAndSeal() {
        let record = hex("00 00 00 01  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 04")
        for command in [hex("01"), hex("09")] {
            XCTAssertNotNil(PeerMessage.decode([sgp02, command, customer2, record][...]))
            assertRefused([sgp02, command, customer2], "no records frame")
            assertRefused([sgp02, command, customer2, record, []], "an extra frame")
            for size in [1, 12, 20, 27, 29, 55] {
                assertRefused([sgp02, command, customer2, Array((record + record).prefix(size))], "\(size) bytes of records")
            }
            assertRefused([sgp02, command, hex("ff fe"), record], "a unit name that is not UTF-8")
        }
    }

    func testMalformedStored() {
        let record = hex("00 00 00 03  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 09  01")
        XCTAssertNotNil(PeerMessage.decode([sgp02, hex("07"), hex("6d"), record][...]))
        assertRefused([sgp02, hex("07"), hex("6d")], "no records frame")
        assertRefused([sgp02, hex("07"), hex("6d"), record, []], "an extra frame")
        for size in [1, 20, 22, 28, 41] {
            assertRefused([sgp02, hex("07"), hex("6d"), Array((record + record).prefix(size))], "\(size) bytes of records")
        }
        assertRefused([sgp02, hex("07"), hex("c3 28"), record], "a mirror name that is not UTF-8")
    }

    func testMalformedRequests() {
        let snapshot = hex("00 00 00 11  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 07")
        let catchUp = hex("00 00 00 11  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 2a  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 07")
        XCTAssertNotNil(PeerMessage.decode([sgp02, hex("02"), customer2, snapshot][...]))
        XCTAssertNotNil(PeerMessage.decode([sgp02, hex("03"), customer2, catchUp][...]))
        assertRefused([sgp02, hex("02"), customer2], "snapshot request without a body")
        assertRefused([sgp02, hex("02"), customer2, snapshot, []], "snapshot request with an extra frame")
        assertRefused([sgp02, hex("02"), customer2, Array(snapshot.prefix(12))], "a snapshot request without follow (the SGP01 layout)")
        assertRefused([sgp02, hex("02"), customer2, Array(snapshot.dropLast())], "a 19-byte snapshot request")
        assertRefused([sgp02, hex("02"), customer2, snapshot + [0]], "a 21-byte snapshot request")
        assertRefused([sgp02, hex("02"), hex("c3"), snapshot], "a unit name that is not UTF-8")
        assertRefused([sgp02, hex("03"), customer2], "catch-up request without a body")
        assertRefused([sgp02, hex("03"), customer2, catchUp, []], "catch-up request with an extra frame")
        assertRefused([sgp02, hex("03"), customer2, Array(catchUp.prefix(20))], "a catch-up request without data epoch and follow (the SGP01 layout)")
        assertRefused([sgp02, hex("03"), customer2, Array(catchUp.prefix(28))], "a catch-up request without follow")
        assertRefused([sgp02, hex("03"), customer2, Array(catchUp.dropLast())], "a 35-byte catch-up request")
        assertRefused([sgp02, hex("03"), customer2, catchUp + [0]], "a 37-byte catch-up request")
        assertRefused([sgp02, hex("03"), hex("80"), catchUp], "a unit name that is not UTF-8")
    }

    func testMalformedSnapshotChunks() {
        let head = hex("00 00 00 11  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 09  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 08  03")
        let entry = hex("00 00 00 02 34 32  00 00 00 00 00 00 00 07  00 00 00 01 76")
        XCTAssertNotNil(PeerMessage.decode([sgp02, hex("04"), head, entry][...]))
        XCTAssertNotNil(PeerMessage.decode([sgp02, hex("04"), head, entry, tableBytes][...]))
        assertRefused([sgp02, hex("04"), head], "no entries frame")
        assertRefused([sgp02, hex("04"), head, entry, tableBytes, []], "six frames")
        for size in [0, 21, 29, 36] {
            assertRefused([sgp02, hex("04"), Array(head.prefix(size)), entry], "a \(size)-byte head")
        }
        assertRefused([sgp02, hex("04"), head + [0], entry], "a 38-byte head")
        for size in 1..<entry.count {
            assertRefused([sgp02, hex("04"), head, Array(entry.prefix(size))], "an entry cut after \(size) bytes")
            assertRefused([sgp02, hex("04"), head, entry + Array(entry.prefix(size))], "a second entry cut after \(size) bytes")
        }
        assertRefused([sgp02, hex("04"), head, hex("ff ff ff ff 34 32")], "a key length beyond the frame")
        assertRefused([sgp02, hex("04"), head, hex("00 00 00 02 34 32  00 00 00 00 00 00 00 07  80 00 00 00 76")],
                      "a value length beyond the frame")
        // The fifth frame must be a whole request table.
        for size in 1..<tableBytes.count {
            assertRefused([sgp02, hex("04"), head, entry, Array(tableBytes.prefix(size))], "a table cut after \(size) bytes")
        }
        assertRefused([sgp02, hex("04"), head, entry, tableBytes + [0]], "a table with a trailing byte")
        assertRefused([sgp02, hex("04"), head, entry, hex("00")], "a table with an empty client")
    }

    func testMalformedChanges() {
        let head = hex("00 00 00 11  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 0a")
        let change = hex("00 00 00 00 00 00 00 0a  00 00 00 00 00 00 00 03  01  00 00 00 00 00 00 00 0a  00 00 00 02 34 32  00 00 00 01 76")
        let record = hex("00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03  00 00 00 c8  00 00 00 00 00 00 00 0a  05 61 70 70 2d 31  00 00 00 00")
        var flagged = change
        flagged[16] = 0x81
        XCTAssertNotNil(PeerMessage.decode([sgp02, hex("05"), head, change][...]))
        XCTAssertNotNil(PeerMessage.decode([sgp02, hex("05"), head, flagged + record][...]))
        XCTAssertNotNil(PeerMessage.decode([sgp02, hex("05"), head, flagged + record + change][...]))
        assertRefused([sgp02, hex("05"), head], "no changes frame")
        assertRefused([sgp02, hex("05"), head, change, []], "an extra frame")
        assertRefused([sgp02, hex("05"), Array(head.prefix(12)), change], "a 12-byte head (the SGP01 layout)")
        assertRefused([sgp02, hex("05"), Array(head.dropLast()), change], "a 19-byte head")
        assertRefused([sgp02, hex("05"), head + [0], change], "a 21-byte head")
        for kind: UInt8 in [0, 3, 0x7f, 0xff, 0x80, 0x83, 0x41] {
            var bad = change
            bad[16] = kind
            assertRefused([sgp02, hex("05"), head, bad + record], "kind \(kind)")
        }
        for size in 1..<change.count {
            assertRefused([sgp02, hex("05"), head, Array(change.prefix(size))], "a change cut after \(size) bytes")
            assertRefused([sgp02, hex("05"), head, change + Array(change.prefix(size))], "a second change cut after \(size) bytes")
        }
        // Bit 7 set: the record must follow, whole.
        assertRefused([sgp02, hex("05"), head, flagged], "the flag without a record")
        for size in 1..<record.count {
            assertRefused([sgp02, hex("05"), head, flagged + Array(record.prefix(size))], "a record cut after \(size) bytes")
        }
        var emptyClient = record
        emptyClient[28] = 0
        assertRefused([sgp02, hex("05"), head, flagged + emptyClient], "a record with an empty client")
        var badStatus = record
        badStatus[19] = 0xc9
        assertRefused([sgp02, hex("05"), head, flagged + badStatus], "a record with status 201")
        // Bit 7 clear: what follows is read as the next change (here one of kind 0).
        assertRefused([sgp02, hex("05"), head, change + record], "a record without the flag")
    }

    func testMalformedRefusalAndInSync() {
        let body = hex("00 00 00 11  00 00 00 00 00 00 00 03")
        assertRefused([sgp02, hex("06"), body, []], "an extra frame")
        assertRefused([sgp02, hex("06"), Array(body.dropLast())], "11 bytes")
        assertRefused([sgp02, hex("06"), body + [0]], "13 bytes")
        assertRefused([sgp02, hex("06"), []], "empty")
        let inSync = body + hex("00 00 00 00 00 00 00 05")
        XCTAssertNotNil(PeerMessage.decode([sgp02, hex("08"), inSync][...]))
        assertRefused([sgp02, hex("08"), inSync, []], "an extra frame")
        assertRefused([sgp02, hex("08"), body], "no follow")
        assertRefused([sgp02, hex("08"), Array(inSync.dropLast())], "19 bytes")
        assertRefused([sgp02, hex("08"), inSync + [0]], "21 bytes")
        assertRefused([sgp02, hex("08"), customer2, inSync], "a unit name first")
    }
}
