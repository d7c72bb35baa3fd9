import GridCore
import GridWire
import XCTest

/// Malformed client messages: dropped when no reply can be addressed, answered with 400 `malformed` otherwise.
final class ClientWireMalformedTests: XCTestCase {
    private func decode(_ frames: [[UInt8]]) -> Result<ClientWire.Request, ClientWire.Refusal> {
        ClientWire.decodeRequest(frames[...])
    }

    private func assertDropped(_ frames: [[UInt8]], _ reason: String, file: StaticString = #filePath, line: UInt = #line) {
        guard case .failure(.drop(let actual)) = decode(frames) else {
            return XCTFail("expected a drop, got \(decode(frames))", file: file, line: line)
        }
        XCTAssertTrue(actual.contains(reason), "reason '\(actual)'", file: file, line: line)
    }

    private func assertMalformedReply(_ frames: [[UInt8]], to envelope: ClientEnvelope, _ reason: String,
                                      file: StaticString = #filePath, line: UInt = #line) {
        guard case .failure(.reply(let actualEnvelope, let error)) = decode(frames) else {
            return XCTFail("expected an error reply, got \(decode(frames))", file: file, line: line)
        }
        XCTAssertEqual(actualEnvelope, envelope, file: file, line: line)
        XCTAssertEqual(error.status, .badRequest, file: file, line: line)
        XCTAssertEqual(error.code, "malformed", file: file, line: line)
        XCTAssertTrue(error.message.contains(reason), "message '\(error.message)'", file: file, line: line)
    }

    func testEmptyAndHeaderless() {
        assertDropped([], "no protocol header")
        assertDropped([[]], "no protocol header")
    }

    func testUnknownHeaders() {
        assertDropped([hex("4d 44 50 43 30")], "unknown protocol header")              // MDPC0
        assertDropped([hex("4d 44 50 43 30 32"), Golden.customer], "unknown protocol header") // MDPC02
        assertDropped([hex("6d 64 70 63 30 31"), Golden.customer], "unknown protocol header") // mdpc01
        assertDropped([Golden.mdpw01, Golden.customer], "unknown protocol header")    // a worker header on the client side
        assertDropped([[], [], Golden.mdpc01, Golden.customer], "unknown protocol header") // two delimiters
        assertDropped([[0xff, 0x00, 0x1b]], "unknown protocol header")
        assertDropped([hex("53 47 43 30 33"), Golden.correlation7], "unknown protocol header") // SGC03
        assertDropped([Golden.sgd02, Golden.correlation7, Golden.rid], "unknown protocol header") // a direct request at the broker
    }

    func testMDPWithoutAService() {
        assertDropped([Golden.mdpc01], "without a service frame")
        assertDropped([[], Golden.mdpc01], "without a service frame")
    }

    func testMDPServiceLongerThan255BytesIsDropped() {
        assertDropped([Golden.mdpc01, Array(repeating: 0x61, count: 256), Golden.get, Golden.key42], "longer than 255")
        XCTAssertNoThrow(try decode([Golden.mdpc01, Array(repeating: 0x61, count: 255), Golden.get, Golden.key42]).get())
    }

    func testNativeWithoutACorrelation() {
        assertDropped([Golden.sgc02], "without a correlation frame")
    }

    func testNativeCorrelationMustBe1To32Bytes() {
        assertDropped([Golden.sgc02, [], Golden.rid, Golden.customer, Golden.get, Golden.key42], "correlation id must be 1 to 32 bytes")
        assertDropped([Golden.sgc02, Array(repeating: 1, count: 33), Golden.rid, Golden.customer, Golden.get, Golden.key42], "1 to 32")
        XCTAssertNoThrow(try decode([Golden.sgc02, [0], Golden.rid, Golden.customer, Golden.get, Golden.key42]).get())
        XCTAssertNoThrow(try decode([Golden.sgc02, Array(repeating: 1, count: 32), Golden.rid, Golden.customer, Golden.get, Golden.key42]).get())
    }

    func testNativeAfterADelimiterIsNotUnderstood() {
        assertDropped([[], Golden.sgc02, Golden.correlation7, Golden.rid, Golden.customer, Golden.get, Golden.key42], "unknown protocol header")
    }

    func testNativeWithoutSectionOperationOrKeyGetsAMalformedReply() {
        let envelope = ClientEnvelope(kind: .native, tag: Golden.correlation7)
        assertMalformedReply([Golden.sgc02, Golden.correlation7], to: envelope, "without a request id frame")
        assertMalformedReply([Golden.sgc02, Golden.correlation7, Golden.rid], to: envelope, "without a section frame")
        assertMalformedReply([Golden.sgc02, Golden.correlation7, Golden.rid, Golden.customer], to: envelope, "without an operation frame")
        assertMalformedReply([Golden.sgc02, Golden.correlation7, Golden.rid, Golden.customer, Golden.get], to: envelope, "without a key frame")
    }

    func testNativeRequestIDFrameMustBeSequenceFloorAndA1To64ByteClient() {
        let envelope = ClientEnvelope(kind: .native, tag: Golden.correlation7)
        func frames(_ rid: [UInt8]) -> [[UInt8]] { [Golden.sgc02, Golden.correlation7, rid, Golden.customer, Golden.get, Golden.key42] }
        let head = hex("00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03")
        let refused: [(String, [UInt8])] = [
            ("empty", []),
            ("too short: a sequence only", Array(head.prefix(8))),
            ("too short: 15 bytes", Array(head.prefix(15))),
            ("an empty client", head),
            ("a 65-byte client", head + Array(repeating: 0x63, count: 65)),
            ("a 200-byte client", head + Array(repeating: 0x63, count: 200)),
        ]
        for (why, rid) in refused {
            guard case .failure(.reply(let actual, let error)) = decode(frames(rid)) else {
                XCTFail("\(why): expected a malformed reply, got \(decode(frames(rid)))")
                continue
            }
            XCTAssertEqual(actual, envelope, "\(why): answered under the correlation")
            XCTAssertEqual(error.status, .badRequest, why)
            XCTAssertEqual(error.code, "malformed", why)
            XCTAssertTrue(error.message.contains("request id frame"), "\(why): '\(error.message)'")
            XCTAssertTrue(error.message.contains("got \(rid.count) bytes"), "\(why): '\(error.message)'")
        }
        // The limits themselves are fine.
        XCTAssertEqual(try decode(frames(head + [0x63])).get().requestID, head + [0x63])
        XCTAssertEqual(try decode(frames(head + Array(repeating: 0x63, count: 64))).get().requestID.count, 80)
        // The section where the request id belongs (an SGC01 client that only changed its header): refused.
        assertMalformedReply([Golden.sgc02, Golden.correlation7, Golden.customer, Golden.get, Golden.key42], to: envelope, "request id frame")
    }

    func testMDPWithABadRequestIDFrameGetsAMalformedReplyInItsForm() {
        let head = hex("00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03")
        let prefix = hex("52 49 44 3a")   // RID:
        for rid in [prefix, prefix + Array(head.prefix(15)), prefix + head, prefix + head + Array(repeating: 0x63, count: 65)] {
            assertMalformedReply([Golden.mdpc01, Golden.customer, rid, Golden.get, Golden.key42],
                                 to: ClientEnvelope(kind: .mdpBare, tag: Golden.customer), "RID: frame")
            assertMalformedReply([[], Golden.mdpc01, Golden.customer, rid, Golden.get, Golden.key42],
                                 to: ClientEnvelope(kind: .mdpDelimited, tag: Golden.customer), "RID: frame")
        }
        XCTAssertEqual(try decode([Golden.mdpc01, Golden.customer, prefix + head + [0x63], Golden.get, Golden.key42]).get().requestID, head + [0x63])
    }

    func testMDPWithARequestIDButNothingAfterIt() {
        let envelope = ClientEnvelope(kind: .mdpBare, tag: Golden.customer)
        assertMalformedReply([Golden.mdpc01, Golden.customer, Golden.mdpRID], to: envelope, "without an operation frame")
        assertMalformedReply([Golden.mdpc01, Golden.customer, Golden.mdpRID, Golden.get], to: envelope, "without a key frame")
        // Two request id frames: the second is the operation (the broker refuses it as an unknown one).
        XCTAssertEqual(try decode([Golden.mdpc01, Golden.customer, Golden.mdpRID, Golden.mdpRID, Golden.key42]).get().operation, Golden.mdpRID)
    }

    func testMDPWithoutOperationOrKeyGetsAMalformedReplyInItsForm() {
        assertMalformedReply([Golden.mdpc01, Golden.customer], to: ClientEnvelope(kind: .mdpBare, tag: Golden.customer),
                             "without an operation frame")
        assertMalformedReply([[], Golden.mdpc01, Golden.customer, Golden.get],
                             to: ClientEnvelope(kind: .mdpDelimited, tag: Golden.customer), "without a key frame")
    }

    func testOnlyMMIServicesMayOmitTheKey() {
        // `grid status` is not MMI: it needs a key frame (the broker ignores its content).
        assertMalformedReply([Golden.mdpc01, hex("67 72 69 64"), hex("73 74 61 74 75 73")],
                             to: ClientEnvelope(kind: .mdpBare, tag: hex("67 72 69 64")), "without a key frame")
        XCTAssertEqual(try decode([Golden.mdpc01, hex("67 72 69 64"), hex("73 74 61 74 75 73"), []]).get().key, [])
        // mmi.* still needs the service-name (operation) frame.
        assertMalformedReply([Golden.mdpc01, Golden.mmiService], to: ClientEnvelope(kind: .mdpBare, tag: Golden.mmiService),
                             "without an operation frame")
        // Any mmi.* name skips the key, not only mmi.service.
        XCTAssertEqual(try decode([Golden.mdpc01, bytes("mmi.echo"), bytes("x")]).get().key, [])
        XCTAssertEqual(try decode([Golden.sgc02, Golden.correlation7, Golden.rid, bytes("mmi.echo"), bytes("x")]).get().key, [])
    }

    func testTheDecoderLeavesKeyValidationToTheBroker() {
        // An empty key or an oversized one decodes; the broker answers 400 bad_key (PROTOCOL.md, "Limits").
        XCTAssertEqual(try decode([Golden.mdpc01, Golden.customer, Golden.get, []]).get().key, [])
        let big = Array(repeating: UInt8(0x6b), count: 2_000)
        XCTAssertEqual(try decode([Golden.mdpc01, Golden.customer, Golden.get, big]).get().key.count, 2_000)
        XCTAssertEqual(try decode([Golden.sgc02, Golden.correlation7, Golden.rid, Golden.customer, Golden.get, big]).get().key.count, 2_000)
    }

    func testAnEmptyServiceIsDecodedForTheBrokerToRefuse() {
        XCTAssertEqual(try decode([Golden.mdpc01, [], Golden.get, Golden.key42]).get().section, [])
        XCTAssertEqual(try decode([Golden.sgc02, Golden.correlation7, Golden.rid, [], Golden.get, Golden.key42]).get().section, [])
    }
}
