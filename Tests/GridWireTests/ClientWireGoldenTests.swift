import GridCore
import GridWire
import XCTest

/// Byte-level pins of every client frame layout (PROTOCOL.md, "Clients").
final class ClientWireGoldenTests: XCTestCase {
    func testHeadersAndLimits() {
        XCTAssertEqual(ClientWire.mdpHeader, hex("4d 44 50 43 30 31"))
        XCTAssertEqual(ClientWire.nativeHeader, hex("53 47 43 30 31"))
        XCTAssertEqual(ClientWire.maximumCorrelationBytes, 32)
        XCTAssertEqual(ClientWire.maximumKeyBytes, 1024)
    }

    // MARK: - Requests

    func testNativeRequestFrames() {
        let frames = ClientWire.encodeNativeRequest(
            correlation: [0, 0, 0, 0, 0, 0, 0, 7], section: "customer", operation: "put", key: bytes("42"),
            arguments: [bytes(#"{"balance":100}"#)])
        XCTAssertEqual(frames, [
            hex("53 47 43 30 31"),                                   // SGC01
            hex("00 00 00 00 00 00 00 07"),                          // correlation
            hex("63 75 73 74 6f 6d 65 72"),                          // customer
            hex("70 75 74"),                                         // put
            hex("34 32"),                                            // 42
            hex("7b 22 62 61 6c 61 6e 63 65 22 3a 31 30 30 7d"),     // {"balance":100}
        ])
        XCTAssertEqual(ClientWire.decodeRequest(frames[...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .native, tag: hex("00 00 00 00 00 00 00 07")),
            section: Golden.customer, operation: Golden.put, key: Golden.key42, arguments: [Golden.balance])))
    }

    func testDirectRequestFramesCarryTheRoute() {
        let frames = ClientWire.encodeDirectRequest(
            correlation: [0, 0, 0, 0, 0, 0, 0, 7], route: Route(partition: 141, epoch: 3), section: bytes("customer"),
            operation: bytes("put"), key: bytes("42"), arguments: [bytes(#"{"balance":100}"#)])
        XCTAssertEqual(frames, [
            hex("53 47 44 30 31"),                                   // SGD01
            hex("00 00 00 00 00 00 00 07"),                          // correlation
            hex("00 00 00 8d 00 00 00 00 00 00 00 03"),              // partition 141, epoch 3
            hex("63 75 73 74 6f 6d 65 72"),                          // customer
            hex("70 75 74"),                                         // put
            hex("34 32"),                                            // 42
            hex("7b 22 62 61 6c 61 6e 63 65 22 3a 31 30 30 7d"),     // {"balance":100}
        ])
        XCTAssertEqual(ClientWire.decodeDirectRequest(frames[...]), .success(ClientWire.DirectRequest(
            correlation: hex("00 00 00 00 00 00 00 07"), route: Route(partition: 141, epoch: 3), section: Golden.customer,
            operation: Golden.put, key: Golden.key42, arguments: [Golden.balance])))
    }

    func testMalformedDirectRequestsAreDroppedOrAnsweredNeverTrusted() {
        let correlation = hex("00 00 00 00 00 00 00 07")
        let route = hex("00 00 00 8d 00 00 00 00 00 00 00 03")
        XCTAssertEqual(ClientWire.decodeDirectRequest([Golden.sgc01, correlation, route, Golden.customer, Golden.put, Golden.key42][...]),
                       .failure(.drop("not a direct request (SGD01)")))
        XCTAssertEqual(ClientWire.decodeDirectRequest([ClientWire.directHeader, [], route][...]),
                       .failure(.drop("correlation id must be 1 to 32 bytes")))
        guard case .failure(.reply(let envelope, let error)) = ClientWire.decodeDirectRequest([ClientWire.directHeader, correlation, hex("01 02"), Golden.customer, Golden.put, Golden.key42][...]) else {
            return XCTFail("a short route frame is answered")
        }
        XCTAssertEqual(envelope, ClientEnvelope(kind: .native, tag: correlation), "the error goes back under the request's correlation")
        XCTAssertEqual(error.status, .badRequest)
        guard case .failure(.reply(_, let missing)) = ClientWire.decodeDirectRequest([ClientWire.directHeader, correlation, route, Golden.customer][...]) else {
            return XCTFail("a request without operation and key is answered")
        }
        XCTAssertEqual(missing.status, .badRequest)
    }

    func testNativeRequestWithManyArgumentsAndEmptyOnes() {
        let frames = ClientWire.encodeNativeRequest(correlation: [0xab], section: "order", operation: "cas", key: [0xff],
                                                    arguments: [bytes("7"), [], bytes("v1")])
        XCTAssertEqual(frames, [Golden.sgc01, hex("ab"), hex("6f 72 64 65 72"), hex("63 61 73"), hex("ff"), hex("37"), [], hex("76 31")])
        XCTAssertEqual(ClientWire.decodeRequest(frames[...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .native, tag: hex("ab")), section: hex("6f 72 64 65 72"), operation: hex("63 61 73"),
            key: hex("ff"), arguments: [hex("37"), [], hex("76 31")])))
    }

    func testMDPRequestFromAREQSocketHasTheEmptyDelimiter() {
        let frames: [[UInt8]] = [[], hex("4d 44 50 43 30 31"), hex("63 75 73 74 6f 6d 65 72"), hex("67 65 74"), hex("34 32")]
        XCTAssertEqual(ClientWire.decodeRequest(frames[...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .mdpDelimited, tag: Golden.customer),
            section: Golden.customer, operation: Golden.get, key: Golden.key42, arguments: [])))
    }

    func testMDPRequestFromADEALERHasNoDelimiter() {
        let frames: [[UInt8]] = [hex("4d 44 50 43 30 31"), hex("63 75 73 74 6f 6d 65 72"), hex("70 75 74"), hex("34 32"),
                                 hex("7b 22 62 61 6c 61 6e 63 65 22 3a 31 30 30 7d")]
        XCTAssertEqual(ClientWire.decodeRequest(frames[...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .mdpBare, tag: Golden.customer),
            section: Golden.customer, operation: Golden.put, key: Golden.key42, arguments: [Golden.balance])))
    }

    func testDecodingASliceThatDoesNotStartAtZero() {
        // The broker passes `frames[1...]`: the routing id stays in front.
        let frames: [[UInt8]] = [hex("00 6b 8b 45 67"), Golden.mdpc01, Golden.customer, Golden.get, Golden.key42]
        XCTAssertEqual(ClientWire.decodeRequest(frames[1...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .mdpBare, tag: Golden.customer),
            section: Golden.customer, operation: Golden.get, key: Golden.key42, arguments: [])))
    }

    func testMMIServiceRequestNeedsNoKey() {
        // 8/MMI: MDPC01, mmi.service, <service name>.
        let frames: [[UInt8]] = [[], Golden.mdpc01, Golden.mmiService, Golden.customer]
        XCTAssertEqual(ClientWire.decodeRequest(frames[...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .mdpDelimited, tag: Golden.mmiService),
            section: Golden.mmiService, operation: Golden.customer, key: [], arguments: [])))
        let native: [[UInt8]] = [Golden.sgc01, hex("01"), Golden.mmiService, Golden.customer]
        XCTAssertEqual(ClientWire.decodeRequest(native[...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .native, tag: hex("01")),
            section: Golden.mmiService, operation: Golden.customer, key: [], arguments: [])))
    }

    // MARK: - Replies

    func testMDPReplyToAREQSocketEchoesTheDelimiter() {
        let frames = ClientWire.encodeReply(envelope: ClientEnvelope(kind: .mdpDelimited, tag: Golden.customer), status: .ok,
                                            payload: bytes("100"), meta: hex("00 00 00 00 00 00 00 01"))
        XCTAssertEqual(frames, [[], hex("4d 44 50 43 30 31"), hex("63 75 73 74 6f 6d 65 72"), hex("32 30 30"), hex("31 30 30")],
                       "MDP replies carry no meta frame")
    }

    func testMDPReplyToADEALER() {
        let error = GridError(.notFound, "not_found", "no entry")
        let frames = ClientWire.encodeReply(envelope: ClientEnvelope(kind: .mdpBare, tag: Golden.customer), status: .notFound,
                                            payload: error.payload, meta: [])
        XCTAssertEqual(frames, [
            hex("4d 44 50 43 30 31"), hex("63 75 73 74 6f 6d 65 72"), hex("34 30 34"),
            // {"code":"not_found","message":"no entry"}
            hex("7b 22 63 6f 64 65 22 3a 22 6e 6f 74 5f 66 6f 75 6e 64 22 2c 22 6d 65 73 73 61 67 65 22 3a 22 6e 6f 20 65 6e 74 72 79 22 7d"),
        ])
    }

    func testNativeReplyCarriesCorrelationAndMeta() {
        let meta = ReplyMeta(version: 5, unit: "customer-1").encoded
        let frames = ClientWire.encodeReply(envelope: ClientEnvelope(kind: .native, tag: Golden.correlation7), status: .conflict,
                                            payload: bytes("x"), meta: meta)
        XCTAssertEqual(frames, [
            hex("53 47 43 30 31"), hex("00 00 00 00 00 00 00 07"), hex("34 30 39"), hex("78"),
            hex("00 00 00 00 00 00 00 05 63 75 73 74 6f 6d 65 72 2d 31"),
        ])
        let reply = ClientWire.decodeNativeReply(frames)
        XCTAssertEqual(reply?.correlation, Golden.correlation7)
        XCTAssertEqual(reply?.status, .conflict)
        XCTAssertEqual(reply?.payload, hex("78"))
        XCTAssertEqual(reply?.meta, ReplyMeta(version: 5, unit: "customer-1"))
    }

    func testEveryStatusRoundTripsThroughANativeReply() {
        for status in Status.allCases {
            let frames = ClientWire.encodeReply(envelope: ClientEnvelope(kind: .native, tag: hex("09")), status: status, payload: [], meta: ReplyMeta().encoded)
            XCTAssertEqual(frames[2], Array(String(status.rawValue).utf8))
            XCTAssertEqual(ClientWire.decodeNativeReply(frames)?.status, status)
        }
    }

    func testNativeReplyDecodingRefusesOtherShapes() {
        let good: [[UInt8]] = [Golden.sgc01, hex("01"), hex("32 30 30"), [], hex("00 00 00 00 00 00 00 00")]
        XCTAssertNotNil(ClientWire.decodeNativeReply(good))
        XCTAssertNil(ClientWire.decodeNativeReply([]))
        XCTAssertNil(ClientWire.decodeNativeReply(Array(good.dropLast())), "four frames")
        XCTAssertNil(ClientWire.decodeNativeReply(good + [[]]), "six frames")
        XCTAssertNil(ClientWire.decodeNativeReply([Golden.mdpc01] + good.dropFirst()), "MDP header")
        XCTAssertNil(ClientWire.decodeNativeReply([Golden.sgc01, hex("01"), hex("32 30"), [], []]), "two-digit status")
        XCTAssertNil(ClientWire.decodeNativeReply([Golden.sgc01, hex("01"), hex("32 30 31"), [], []]), "unknown status")
        // A short meta frame is tolerated: version 0, no unit.
        XCTAssertEqual(ClientWire.decodeNativeReply([Golden.sgc01, hex("01"), hex("32 30 30"), [], hex("01 02")])?.meta, ReplyMeta())
    }

    // MARK: - Meta and envelope

    func testReplyMetaIsABigEndianVersionThenTheUnitName() {
        XCTAssertEqual(ReplyMeta(version: 0x0102_0304_0506_0708, unit: "customer-1").encoded,
                       hex("01 02 03 04 05 06 07 08 63 75 73 74 6f 6d 65 72 2d 31"))
        XCTAssertEqual(ReplyMeta().encoded, hex("00 00 00 00 00 00 00 00"))
        XCTAssertEqual(ReplyMeta(version: UInt64.max, unit: "é").encoded, hex("ff ff ff ff ff ff ff ff c3 a9"))
        for meta in [ReplyMeta(), ReplyMeta(version: 0x0102_0304_0506_0708, unit: "customer-1"), ReplyMeta(version: .max, unit: "é")] {
            XCTAssertEqual(ReplyMeta(decoding: meta.encoded), meta)
        }
        XCTAssertEqual(ReplyMeta(decoding: hex("00 00 00 00 00 00 01 00")), ReplyMeta(version: 256, unit: ""))
        XCTAssertNil(ReplyMeta(decoding: hex("00 00 00 00 00 00 01")), "seven bytes")
        XCTAssertNil(ReplyMeta(decoding: []))
    }

    func testClientEnvelopeIsAKindByteThenTheTag() {
        let cases: [(ClientEnvelope, [UInt8])] = [
            (ClientEnvelope(kind: .mdpDelimited, tag: Golden.customer), hex("00 63 75 73 74 6f 6d 65 72")),
            (ClientEnvelope(kind: .mdpBare, tag: Golden.customer), hex("01 63 75 73 74 6f 6d 65 72")),
            (ClientEnvelope(kind: .native, tag: Golden.correlation7), hex("02 00 00 00 00 00 00 00 07")),
            (ClientEnvelope(kind: .native, tag: []), hex("02")),
        ]
        for (envelope, encoded) in cases {
            XCTAssertEqual(envelope.encoded, encoded)
            XCTAssertEqual(ClientEnvelope(encoded: encoded), envelope)
        }
        XCTAssertNil(ClientEnvelope(encoded: []))
        XCTAssertNil(ClientEnvelope(encoded: hex("03 41")), "unknown kind")
        XCTAssertNil(ClientEnvelope(encoded: hex("ff")))
    }

    func testPreviewIsPrintableAndBounded() {
        XCTAssertEqual(preview(bytes("customer")), "customer")
        XCTAssertEqual(preview([0x41, 0x00, 0x0a, 0x7f, 0x42]), "A...B")
        XCTAssertEqual(preview(bytes("abcdef"), limit: 3), "abc...")
        XCTAssertEqual(preview([]), "")
    }
}
