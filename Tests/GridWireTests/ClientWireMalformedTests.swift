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
        assertDropped([Golden.sgc01], "without a correlation frame")
    }

    func testNativeCorrelationMustBe1To32Bytes() {
        assertDropped([Golden.sgc01, [], Golden.customer, Golden.get, Golden.key42], "correlation id must be 1 to 32 bytes")
        assertDropped([Golden.sgc01, Array(repeating: 1, count: 33), Golden.customer, Golden.get, Golden.key42], "1 to 32")
        XCTAssertNoThrow(try decode([Golden.sgc01, [0], Golden.customer, Golden.get, Golden.key42]).get())
        XCTAssertNoThrow(try decode([Golden.sgc01, Array(repeating: 1, count: 32), Golden.customer, Golden.get, Golden.key42]).get())
    }

    func testNativeAfterADelimiterIsNotUnderstood() {
        assertDropped([[], Golden.sgc01, Golden.correlation7, Golden.customer, Golden.get, Golden.key42], "unknown protocol header")
    }

    func testNativeWithoutSectionOperationOrKeyGetsAMalformedReply() {
        let envelope = ClientEnvelope(kind: .native, tag: Golden.correlation7)
        assertMalformedReply([Golden.sgc01, Golden.correlation7], to: envelope, "without a section frame")
        assertMalformedReply([Golden.sgc01, Golden.correlation7, Golden.customer], to: envelope, "without an operation frame")
        assertMalformedReply([Golden.sgc01, Golden.correlation7, Golden.customer, Golden.get], to: envelope, "without a key frame")
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
    }

    func testTheDecoderLeavesKeyValidationToTheBroker() {
        // An empty key or an oversized one decodes; the broker answers 400 bad_key (PROTOCOL.md, "Limits").
        XCTAssertEqual(try decode([Golden.mdpc01, Golden.customer, Golden.get, []]).get().key, [])
        let big = Array(repeating: UInt8(0x6b), count: 2_000)
        XCTAssertEqual(try decode([Golden.mdpc01, Golden.customer, Golden.get, big]).get().key.count, 2_000)
    }

    func testAnEmptyServiceIsDecodedForTheBrokerToRefuse() {
        XCTAssertEqual(try decode([Golden.mdpc01, [], Golden.get, Golden.key42]).get().section, [])
    }
}
