import GridCore
import GridWire
import XCTest

/// Byte-level pins of what a unit publishes (PROTOCOL.md, "Replication"): change
/// messages (layout 2), commit indexes and invalidation events, and their refusal of anything else.
final class ReplicationWireTests: XCTestCase {
    private let put = Change(partition: 17, epoch: 3, sequence: 0x0102_0304_0506_0708, key: bytes("42"), version: 0x0102_0304_0506_0708,
                             kind: .put, value: bytes(#"{"balance":100}"#))

    /// A valid change message to mutate: customer.17, epoch 3, sequence 9, put "42" = "v".
    private let good: [[UInt8]] = [
        hex("63 75 73 74 6f 6d 65 72 2e 31 37"),
        hex("02  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 09  01  00 00 00 00 00 00 00 09"),
        hex("34 32"),
        hex("76"),
    ]

    private func assertPublished(_ published: ReplicationWire.Published?, _ section: String, _ change: Change,
                                 file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(published?.section, section, file: file, line: line)
        XCTAssertEqual(published?.change, change, file: file, line: line)
    }

    func testConstants() {
        XCTAssertEqual(ReplicationWire.layoutVersion, 2)
        XCTAssertEqual(ReplicationWire.invalidationPrefix, hex("69 6e 76 61 6c 69 64 61 74 65 3a")) // "invalidate:"
        XCTAssertEqual(ReplicationWire.topic(section: "customer", partition: 17), hex("63 75 73 74 6f 6d 65 72 2e 31 37")) // customer.17
        XCTAssertEqual(ReplicationWire.topic(section: "order", partition: 0), hex("6f 72 64 65 72 2e 30"))                  // order.0
        XCTAssertEqual(ReplicationWire.topic(section: "p", partition: 270), hex("70 2e 32 37 30"))                          // p.270
        XCTAssertEqual(ReplicationWire.invalidationTopic(section: "customer"),
                       hex("69 6e 76 61 6c 69 64 61 74 65 3a 63 75 73 74 6f 6d 65 72"))                                // invalidate:customer
        XCTAssertEqual(ReplicationWire.commitTopic(section: "customer"), hex("63 75 73 74 6f 6d 65 72 2e 63 6f 6d 6d 69 74")) // customer.commit
    }

    func testPutChange() {
        let frames = ReplicationWire.encode(section: "customer", put)
        XCTAssertEqual(frames, [
            hex("63 75 73 74 6f 6d 65 72 2e 31 37"),                // topic "customer.17"
            hex("""
                02
                00 00 00 00 00 00 00 03
                01 02 03 04 05 06 07 08
                01
                01 02 03 04 05 06 07 08
                """),                                               // layout 2, epoch, sequence, kind put, version
            hex("34 32"),                                           // key "42"
            hex("7b 22 62 61 6c 61 6e 63 65 22 3a 31 30 30 7d"),    // value {"balance":100}
        ])
        XCTAssertEqual(frames[1].count, 26)
        assertPublished(ReplicationWire.decode(frames), "customer", put)
        XCTAssertEqual(ReplicationWire.encode(topic: ReplicationWire.topic(section: "customer", partition: 17), put), frames,
                       "a precomputed topic gives the same frames")
    }

    func testDeleteChangeHasAnEmptyValue() {
        let delete = Change(partition: 0, epoch: 1, sequence: 2, key: [0xff, 0x00], version: 2, kind: .delete, value: [])
        let frames = ReplicationWire.encode(section: "order", delete)
        XCTAssertEqual(frames, [
            hex("6f 72 64 65 72 2e 30"),
            hex("02  00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 02  02  00 00 00 00 00 00 00 02"),
            hex("ff 00"),
            [],
        ])
        assertPublished(ReplicationWire.decode(frames), "order", delete)
    }

    func testAChangeThatAnsweredARequestCarriesItsRecordInAFifthFrame() {
        let record = RequestRecord(id: Golden.ridValue, reply: RecordedReply(status: .ok, payload: bytes("1"), version: 9))
        let change = Change(partition: 17, epoch: 3, sequence: 9, key: bytes("42"), version: 9, kind: .put, value: bytes("v"), request: record)
        let frames = ReplicationWire.encode(section: "customer", change)
        XCTAssertEqual(frames, [
            hex("63 75 73 74 6f 6d 65 72 2e 31 37"),                // topic "customer.17"
            hex("02  00 00 00 00 00 00 00 03  00 00 00 00 00 00 00 09  01  00 00 00 00 00 00 00 09"),
            hex("34 32"),                                           // key
            hex("76"),                                              // value
            hex("""
                00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03  00 00 00 c8  00 00 00 00 00 00 00 09
                05 61 70 70 2d 31  00 00 00 01 31
                """),                                               // the request record: "app-1" #5 (floor 3) answered 200 "1" at version 9
        ])
        assertPublished(ReplicationWire.decode(frames), "customer", change)
        XCTAssertEqual(ReplicationWire.decode(Array(frames.prefix(4)))?.change.request, nil, "without the fifth frame: no record")
        // A delete can answer a request too.
        let delete = Change(partition: 0, epoch: 1, sequence: 2, key: [1], version: 2, kind: .delete, value: [],
                            request: RequestRecord(id: RequestID(client: [0x63], sequence: 1), reply: RecordedReply(status: .notFound, payload: [], version: 2)))
        XCTAssertEqual(ReplicationWire.encode(section: "order", delete).count, 5)
        assertPublished(ReplicationWire.decode(ReplicationWire.encode(section: "order", delete)), "order", delete)
    }

    func testMalformedRequestRecordsAreRefused() {
        let record = hex("00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03  00 00 00 c8  00 00 00 00 00 00 00 09  05 61 70 70 2d 31  00 00 00 00")
        XCTAssertNotNil(ReplicationWire.decode(good + [record]))
        XCTAssertNil(ReplicationWire.decode(good + [[]]), "an empty fifth frame")
        for size in 1..<record.count {
            XCTAssertNil(ReplicationWire.decode(good + [Array(record.prefix(size))]), "a record cut after \(size) bytes")
        }
        XCTAssertNil(ReplicationWire.decode(good + [record + [0]]), "a trailing byte")
        XCTAssertNil(ReplicationWire.decode(good + [record, []]), "six frames")
        var emptyClient = record
        emptyClient[28] = 0
        XCTAssertNil(ReplicationWire.decode(good + [emptyClient]), "an empty client")
        var badStatus = record
        badStatus[19] = 0xc9
        XCTAssertNil(ReplicationWire.decode(good + [badStatus]), "status 201")
    }

    func testGoldenFramesDecode() {
        assertPublished(ReplicationWire.decode(good), "customer", Change(
            partition: 17, epoch: 3, sequence: 9, key: bytes("42"), version: 9, kind: .put, value: bytes("v")))
    }

    func testSectionsWithDotsAndMultiByteNames() {
        // The partition follows the last dot, so a section name may contain dots.
        let change = Change(partition: 5, epoch: 1, sequence: 1, key: [1], version: 1, kind: .put, value: [])
        let frames = ReplicationWire.encode(section: "a.b", change)
        XCTAssertEqual(frames[0], hex("61 2e 62 2e 35"))
        XCTAssertEqual(ReplicationWire.decode(frames)?.section, "a.b")
        XCTAssertEqual(ReplicationWire.decode(frames)?.change.partition, 5)
        let accented = ReplicationWire.encode(section: "é", change)
        XCTAssertEqual(accented[0], hex("c3 a9 2e 35"))
        XCTAssertEqual(ReplicationWire.decode(accented)?.section, "é")
    }

    func testRoundTripsOfRandomChanges() {
        var random = SplitMix64(seed: 0xC4A1)
        for _ in 0..<500 {
            let kind: Change.Kind = random.below(2) == 0 ? .put : .delete
            let sequence = random.next()
            let request = random.below(2) == 0 ? nil : RequestRecord(
                id: RequestID(client: (0..<(1 + random.below(64))).map { _ in UInt8(truncatingIfNeeded: random.next()) }, sequence: random.next(),
                              floor: random.next()),
                reply: RecordedReply(status: Status.allCases[random.below(Status.allCases.count)],
                                     payload: (0..<random.below(30)).map { _ in UInt8(truncatingIfNeeded: random.next()) }, version: sequence))
            let change = Change(
                partition: random.below(65_536), epoch: random.next(), sequence: sequence,
                key: (0..<(1 + random.below(40))).map { _ in UInt8(truncatingIfNeeded: random.next()) }, version: sequence, kind: kind,
                value: kind == .delete ? [] : (0..<random.below(100)).map { _ in UInt8(truncatingIfNeeded: random.next()) }, request: request)
            let frames = ReplicationWire.encode(section: "customer", change)
            XCTAssertEqual(frames.count, request == nil ? 4 : 5)
            XCTAssertEqual(frames[1].count, 26)
            assertPublished(ReplicationWire.decode(frames), "customer", change)
            XCTAssertNil(ReplicationWire.decodeInvalidation(frames), "a change is not an invalidation")
            XCTAssertNil(ReplicationWire.decodeCommits(frames), "a change is not a commit")
        }
    }

    func testMalformedChangesAreRefused() {
        XCTAssertNotNil(ReplicationWire.decode(good))
        XCTAssertNil(ReplicationWire.decode([]))
        XCTAssertNil(ReplicationWire.decode(Array(good.prefix(3))), "three frames")
        XCTAssertNil(ReplicationWire.decode(Array(good.prefix(2))), "two frames")
        XCTAssertNil(ReplicationWire.decode(good + [[], []]), "six frames")
        for size in [0, 1, 25, 27, 52] {
            var frames = good
            frames[1] = Array((good[1] + good[1]).prefix(size))
            XCTAssertNil(ReplicationWire.decode(frames), "a \(size)-byte header")
        }
        for layout: UInt8 in [0, 1, 3, 0xff] {   // 1: the layout before request records
            var frames = good
            frames[1][0] = layout
            XCTAssertNil(ReplicationWire.decode(frames), "layout version \(layout)")
        }
        for kind: UInt8 in [0, 3, 0xff] {
            var frames = good
            frames[1][17] = kind
            XCTAssertNil(ReplicationWire.decode(frames), "kind \(kind)")
        }
        for topic in ["customer", "customer.", ".17", "customer.x", "customer.-1", "customer.1 7", "customer.17 ",
                      "customer.99999999999999999999", ""] {
            var frames = good
            frames[0] = bytes(topic)
            XCTAssertNil(ReplicationWire.decode(frames), "topic '\(topic)'")
        }
        var invalid = good
        invalid[0] = hex("ff 2e 31")
        XCTAssertNil(ReplicationWire.decode(invalid), "a section that is not UTF-8")
        let invalidation = ReplicationWire.encodeInvalidation(topic: ReplicationWire.invalidationTopic(section: "customer"), key: [1], version: 1)
        XCTAssertNil(ReplicationWire.decode(invalidation), "an invalidation is not a change")
        let commit = ReplicationWire.encodeCommits(topic: ReplicationWire.commitTopic(section: "customer"), [])
        XCTAssertNil(ReplicationWire.decode(commit), "a commit is not a change")
    }

    // MARK: - Commit indexes

    func testCommits() {
        let frames = ReplicationWire.encodeCommits(topic: ReplicationWire.commitTopic(section: "customer"), [
            ReplicationWire.Commit(partition: 1, epoch: 2, committed: 3),
            ReplicationWire.Commit(partition: 271, epoch: 0x0102_0304_0506_0708, committed: 0xa1b2_c3d4_e5f6_0718),
        ])
        XCTAssertEqual(frames, [
            hex("63 75 73 74 6f 6d 65 72 2e 63 6f 6d 6d 69 74"),                 // "customer.commit"
            hex("""
                00 00 00 01  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 03
                00 00 01 0f  01 02 03 04 05 06 07 08  a1 b2 c3 d4 e5 f6 07 18
                """),                                                           // partition u32, epoch u64, committed u64: 20 bytes each
        ])
        let decoded = ReplicationWire.decodeCommits(frames)
        XCTAssertEqual(decoded?.section, "customer")
        XCTAssertEqual(decoded?.commits, [
            ReplicationWire.Commit(partition: 1, epoch: 2, committed: 3),
            ReplicationWire.Commit(partition: 271, epoch: 0x0102_0304_0506_0708, committed: 0xa1b2_c3d4_e5f6_0718),
        ])
        XCTAssertNil(ReplicationWire.decode(frames), "a commit is not a change")
        XCTAssertNil(ReplicationWire.decodeInvalidation(frames), "a commit is not an invalidation")
    }

    func testCommitsWithNoRecordsAndSectionsWithDots() {
        let empty = ReplicationWire.encodeCommits(topic: ReplicationWire.commitTopic(section: "order"), [])
        XCTAssertEqual(empty, [hex("6f 72 64 65 72 2e 63 6f 6d 6d 69 74"), []])
        XCTAssertEqual(ReplicationWire.decodeCommits(empty)?.section, "order")
        XCTAssertEqual(ReplicationWire.decodeCommits(empty)?.commits, [])
        // The suffix is ".commit"; a section name may contain dots, and multi-byte characters.
        XCTAssertEqual(ReplicationWire.decodeCommits([bytes("a.b.commit"), []])?.section, "a.b")
        XCTAssertEqual(ReplicationWire.decodeCommits([hex("c3 a9 2e 63 6f 6d 6d 69 74"), []])?.section, "é")
        XCTAssertEqual(ReplicationWire.decodeCommits([bytes("x.commit.commit"), []])?.section, "x.commit")
    }

    func testRandomCommitsRoundTrip() {
        var random = SplitMix64(seed: 0xC0_3317)
        for _ in 0..<200 {
            let commits = (0..<random.below(10)).map { _ in
                ReplicationWire.Commit(partition: random.below(1 << 32), epoch: random.next(), committed: random.next())
            }
            let frames = ReplicationWire.encodeCommits(topic: ReplicationWire.commitTopic(section: "customer"), commits)
            XCTAssertEqual(frames[1].count, 20 * commits.count)
            XCTAssertEqual(ReplicationWire.decodeCommits(frames)?.commits, commits)
        }
    }

    func testMalformedCommitsAreRefused() {
        let topic = ReplicationWire.commitTopic(section: "customer")
        let record = hex("00 00 00 01  00 00 00 00 00 00 00 02  00 00 00 00 00 00 00 03")
        XCTAssertNotNil(ReplicationWire.decodeCommits([topic, record]))
        XCTAssertNil(ReplicationWire.decodeCommits([]))
        XCTAssertNil(ReplicationWire.decodeCommits([topic]), "one frame")
        XCTAssertNil(ReplicationWire.decodeCommits([topic, record, []]), "three frames")
        for size in [1, 12, 19, 21, 39, 41] {
            XCTAssertNil(ReplicationWire.decodeCommits([topic, Array((record + record + record).prefix(size))]), "\(size) bytes of records")
        }
        // Other topics: a partition's changes, an invalidation, near misses.
        for other in ["customer.17", "customer.", "customer", ".commit", "commit", "customer.Commit", "customer.commits", "customer.commit ",
                      "customer.commi", "customercommit", "invalidate:customer", ""] {
            XCTAssertNil(ReplicationWire.decodeCommits([bytes(other), record]), "topic '\(other)'")
        }
        XCTAssertNil(ReplicationWire.decodeCommits([hex("ff 2e 63 6f 6d 6d 69 74"), record]), "a section that is not UTF-8")
        XCTAssertNil(ReplicationWire.decodeCommits(good), "a change")
        XCTAssertNil(ReplicationWire.decodeCommits([good[0], record]), "a change topic with a commit body")
    }

    // MARK: - Invalidation

    func testInvalidation() {
        let frames = ReplicationWire.encodeInvalidation(topic: ReplicationWire.invalidationTopic(section: "customer"), key: bytes("42"),
                                                        version: 0x0102_0304_0506_0708)
        XCTAssertEqual(frames, [
            hex("69 6e 76 61 6c 69 64 61 74 65 3a 63 75 73 74 6f 6d 65 72"),   // "invalidate:customer"
            hex("34 32"),                                                     // key "42"
            hex("01 02 03 04 05 06 07 08"),                                   // version u64
        ])
        let invalidation = ReplicationWire.decodeInvalidation(frames)
        XCTAssertEqual(invalidation?.section, "customer")
        XCTAssertEqual(invalidation?.key, bytes("42"))
        XCTAssertEqual(invalidation?.version, 0x0102_0304_0506_0708)
        XCTAssertNil(ReplicationWire.decode(frames), "an invalidation is not a change")
    }

    func testMalformedInvalidationsAreRefused() {
        let good = [hex("69 6e 76 61 6c 69 64 61 74 65 3a 6f"), hex("6b"), hex("00 00 00 00 00 00 00 05")]  // invalidate:o, k, 5
        let decoded = ReplicationWire.decodeInvalidation(good)
        XCTAssertEqual(decoded?.section, "o")
        XCTAssertEqual(decoded?.key, bytes("k"))
        XCTAssertEqual(decoded?.version, 5)
        XCTAssertNil(ReplicationWire.decodeInvalidation([]))
        XCTAssertNil(ReplicationWire.decodeInvalidation(Array(good.prefix(2))), "two frames")
        XCTAssertNil(ReplicationWire.decodeInvalidation(good + [[]]), "four frames")
        XCTAssertNil(ReplicationWire.decodeInvalidation([good[0], good[1], hex("00 00 00 00 00 00 05")]), "a 7-byte version")
        XCTAssertNil(ReplicationWire.decodeInvalidation([good[0], good[1], hex("00 00 00 00 00 00 00 00 05")]), "a 9-byte version")
        XCTAssertNil(ReplicationWire.decodeInvalidation([bytes("invalidate"), good[1], good[2]]), "no colon")
        XCTAssertNil(ReplicationWire.decodeInvalidation([bytes("customer.1"), good[1], good[2]]), "a change topic")
        XCTAssertNil(ReplicationWire.decodeInvalidation([bytes("invalidate:") + [0xff], good[1], good[2]]), "a section that is not UTF-8")
    }
}
