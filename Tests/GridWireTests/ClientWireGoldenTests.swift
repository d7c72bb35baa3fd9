import GridCore
import GridWire
import XCTest

/// Byte-level pins of every client frame layout (PROTOCOL.md, "Clients").
final class ClientWireGoldenTests: XCTestCase {
    func testHeadersAndLimits() {
        XCTAssertEqual(ClientWire.mdpHeader, hex("4d 44 50 43 30 31"))          // MDPC01
        XCTAssertEqual(ClientWire.nativeHeader, hex("53 47 43 30 32"))          // SGC02
        XCTAssertEqual(ClientWire.retiredNativeHeader, hex("53 47 43 30 31"))   // SGC01
        XCTAssertEqual(ClientWire.directHeader, hex("53 47 44 30 32"))          // SGD02
        XCTAssertEqual(RequestWire.mdpPrefix, hex("52 49 44 3a"))               // RID:
        XCTAssertEqual(ClientWire.maximumCorrelationBytes, 32)
        XCTAssertEqual(ClientWire.maximumKeyBytes, 1024)
        XCTAssertEqual(RequestID.maximumClientBytes, 64)
    }

    // MARK: - Requests

    func testNativeRequestFrames() {
        let frames = ClientWire.encodeNativeRequest(
            correlation: [0, 0, 0, 0, 0, 0, 0, 7], requestID: RequestID(client: bytes("app-1"), sequence: 5, floor: 3),
            section: "customer", operation: "put", key: bytes("42"), arguments: [bytes(#"{"balance":100}"#)])
        XCTAssertEqual(frames, [
            hex("53 47 43 30 32"),                                   // SGC02
            hex("00 00 00 00 00 00 00 07"),                          // correlation
            hex("00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03  61 70 70 2d 31"), // request id: sequence 5, floor 3, client "app-1"
            hex("63 75 73 74 6f 6d 65 72"),                          // customer
            hex("70 75 74"),                                         // put
            hex("34 32"),                                            // 42
            hex("7b 22 62 61 6c 61 6e 63 65 22 3a 31 30 30 7d"),     // {"balance":100}
        ])
        XCTAssertEqual(ClientWire.decodeRequest(frames[...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .native, tag: hex("00 00 00 00 00 00 00 07")),
            section: Golden.customer, operation: Golden.put, key: Golden.key42, arguments: [Golden.balance], requestID: Golden.rid)))
    }

    func testNativeRequestIDAtTheLimits() {
        // The smallest id (a 1-byte client, floor 0) and the largest (a 64-byte client, every field all ones).
        let small = RequestID(client: [0x00], sequence: 1)
        let large = RequestID(client: Array(repeating: 0xff, count: 64), sequence: .max, floor: .max)
        XCTAssertEqual(RequestWire.encode(small), hex("00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 00  00"))
        XCTAssertEqual(RequestWire.encode(large), Array(repeating: 0xff, count: 80))
        for id in [small, large] {
            let frames = ClientWire.encodeNativeRequest(correlation: [1], requestID: id, section: "s", operation: "get", key: [], arguments: [])
            XCTAssertEqual(frames[2], RequestWire.encode(id))
            XCTAssertEqual(try ClientWire.decodeRequest(frames[...]).get().requestID, RequestWire.encode(id))
            XCTAssertEqual(RequestWire.decodeID(frames[2]), id)
        }
    }

    func testDirectRequestFramesCarryTheRequestIDAndTheRoute() {
        let frames = ClientWire.encodeDirectRequest(
            correlation: [0, 0, 0, 0, 0, 0, 0, 7], requestID: Golden.ridValue, route: Route(partition: 141, epoch: 3),
            section: bytes("customer"), operation: bytes("put"), key: bytes("42"), arguments: [bytes(#"{"balance":100}"#)])
        XCTAssertEqual(frames, [
            hex("53 47 44 30 32"),                                   // SGD02
            hex("00 00 00 00 00 00 00 07"),                          // correlation
            hex("00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03  61 70 70 2d 31"), // request id
            hex("00 00 00 8d  00 00 00 00 00 00 00 03"),             // partition 141, epoch 3
            hex("63 75 73 74 6f 6d 65 72"),                          // customer
            hex("70 75 74"),                                         // put
            hex("34 32"),                                            // 42
            hex("7b 22 62 61 6c 61 6e 63 65 22 3a 31 30 30 7d"),     // {"balance":100}
        ])
        XCTAssertEqual(ClientWire.decodeDirectRequest(frames[...]), .success(ClientWire.DirectRequest(
            correlation: hex("00 00 00 00 00 00 00 07"), requestID: Golden.ridValue, route: Route(partition: 141, epoch: 3),
            section: Golden.customer, operation: Golden.put, key: Golden.key42, arguments: [Golden.balance])))
    }

    func testDirectRequestWithoutArgumentsAndAWideRoute() {
        let frames = ClientWire.encodeDirectRequest(
            correlation: [0xab], requestID: RequestID(client: [0x63], sequence: 0x0102_0304_0506_0708, floor: 0x0102_0304_0506_0707),
            route: Route(partition: 0xfedc_ba98, epoch: 0x1122_3344_5566_7788), section: [], operation: Golden.get, key: [], arguments: [])
        XCTAssertEqual(frames, [
            Golden.sgd02, hex("ab"),
            hex("01 02 03 04 05 06 07 08  01 02 03 04 05 06 07 07  63"),
            hex("fe dc ba 98  11 22 33 44 55 66 77 88"),
            [], Golden.get, [],
        ])
        XCTAssertEqual(ClientWire.decodeDirectRequest(frames[...]), .success(ClientWire.DirectRequest(
            correlation: hex("ab"), requestID: RequestID(client: [0x63], sequence: 0x0102_0304_0506_0708, floor: 0x0102_0304_0506_0707),
            route: Route(partition: 0xfedc_ba98, epoch: 0x1122_3344_5566_7788), section: [], operation: Golden.get, key: [], arguments: [])))
        // After a routing id: the slice need not start at zero.
        XCTAssertNoThrow(try ClientWire.decodeDirectRequest(([hex("00 6b 8b 45 67")] + frames)[1...]).get())
    }

    func testMalformedDirectRequestsAreDroppedOrAnsweredNeverTrusted() {
        let correlation = hex("00 00 00 00 00 00 00 07")
        let route = hex("00 00 00 8d 00 00 00 00 00 00 00 03")
        let good: [[UInt8]] = [Golden.sgd02, correlation, Golden.rid, route, Golden.customer, Golden.put, Golden.key42]
        XCTAssertNoThrow(try ClientWire.decodeDirectRequest(good[...]).get())
        // No reply can be addressed: dropped.
        for header in [Golden.sgc02, Golden.sgc01, hex("53 47 44 30 31"), [], hex("53 47 44 30 32 00")] { // SGC02, SGC01, SGD01, empty, SGD02\0
            XCTAssertEqual(ClientWire.decodeDirectRequest(([header] + good.dropFirst())[...]), .failure(.drop("not a direct request (SGD02)")))
        }
        XCTAssertEqual(ClientWire.decodeDirectRequest(ArraySlice<[UInt8]>()), .failure(.drop("not a direct request (SGD02)")))
        XCTAssertEqual(ClientWire.decodeDirectRequest([Golden.sgd02][...]), .failure(.drop("not a direct request (SGD02)")))
        XCTAssertEqual(ClientWire.decodeDirectRequest([Golden.sgd02, [], Golden.rid, route][...]), .failure(.drop("correlation id must be 1 to 32 bytes")))
        XCTAssertEqual(ClientWire.decodeDirectRequest([Golden.sgd02, Array(repeating: 1, count: 33), Golden.rid, route, Golden.customer, Golden.put, Golden.key42][...]),
                       .failure(.drop("correlation id must be 1 to 32 bytes")))

        // Past the correlation: a 400 malformed under it.
        func assertAnswered(_ frames: [[UInt8]], _ reason: String, file: StaticString = #filePath, line: UInt = #line) {
            guard case .failure(.reply(let envelope, let error)) = ClientWire.decodeDirectRequest(frames[...]) else {
                return XCTFail("expected an error reply, got \(ClientWire.decodeDirectRequest(frames[...]))", file: file, line: line)
            }
            XCTAssertEqual(envelope, ClientEnvelope(kind: .native, tag: correlation), "the error goes back under the request's correlation", file: file, line: line)
            XCTAssertEqual(error.status, .badRequest, file: file, line: line)
            XCTAssertEqual(error.code, "malformed", file: file, line: line)
            XCTAssertTrue(error.message.contains(reason), "message '\(error.message)'", file: file, line: line)
        }
        assertAnswered([Golden.sgd02, correlation], "a direct request has")
        assertAnswered(Array(good.dropLast()), "a direct request has")
        assertAnswered([Golden.sgd02, correlation, Golden.rid, route, Golden.customer], "a direct request has")
        // The route where the request id belongs (an SGD01 client's layout).
        assertAnswered([Golden.sgd02, correlation, route, Golden.customer, Golden.put, Golden.key42, []], "request id frame")
        for bad in [[], hex("00 00 00 00 00 00 00 05 00 00 00 00 00 00 00 03"), Array(repeating: 0x61, count: 81), hex("01 02")] {
            var frames = good
            frames[2] = bad
            assertAnswered(frames, "request id frame")   // empty, no client, a 65-byte client, too short
        }
        for size in [0, 2, 11, 13] {
            var frames = good
            frames[3] = Array(repeating: 0, count: size)
            assertAnswered(frames, "route frame is 12 bytes")
        }
    }

    func testNativeRequestWithManyArgumentsAndEmptyOnes() {
        let frames = ClientWire.encodeNativeRequest(correlation: [0xab], requestID: Golden.ridValue, section: "order", operation: "cas", key: [0xff],
                                                    arguments: [bytes("7"), [], bytes("v1")])
        XCTAssertEqual(frames, [Golden.sgc02, hex("ab"), Golden.rid, hex("6f 72 64 65 72"), hex("63 61 73"), hex("ff"), hex("37"), [], hex("76 31")])
        XCTAssertEqual(ClientWire.decodeRequest(frames[...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .native, tag: hex("ab")), section: hex("6f 72 64 65 72"), operation: hex("63 61 73"),
            key: hex("ff"), arguments: [hex("37"), [], hex("76 31")], requestID: Golden.rid)))
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

    func testMDPRequestWithTheOptionalRequestIDFrame() {
        // MDPC01, service, "RID:" + request id, operation, key, arguments.
        let rid = hex("52 49 44 3a  00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03  61 70 70 2d 31")
        XCTAssertEqual(rid, Golden.mdpRID)
        let bare: [[UInt8]] = [hex("4d 44 50 43 30 31"), hex("63 75 73 74 6f 6d 65 72"), rid, hex("70 75 74"), hex("34 32"),
                               hex("7b 22 62 61 6c 61 6e 63 65 22 3a 31 30 30 7d")]
        XCTAssertEqual(ClientWire.decodeRequest(bare[...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .mdpBare, tag: Golden.customer),
            section: Golden.customer, operation: Golden.put, key: Golden.key42, arguments: [Golden.balance], requestID: Golden.rid)),
                       "the request id is the frame without its RID: prefix")
        XCTAssertEqual(ClientWire.decodeRequest(([[]] + bare)[...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .mdpDelimited, tag: Golden.customer),
            section: Golden.customer, operation: Golden.put, key: Golden.key42, arguments: [Golden.balance], requestID: Golden.rid)))
        // Only the frame right after the service is read as a request id: later ones are arguments.
        XCTAssertEqual(ClientWire.decodeRequest([Golden.mdpc01, Golden.customer, Golden.put, Golden.key42, rid][...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .mdpBare, tag: Golden.customer),
            section: Golden.customer, operation: Golden.put, key: Golden.key42, arguments: [rid])))
        // The prefix is exact: "rid:" and "RID" are operations.
        XCTAssertEqual(try ClientWire.decodeRequest([Golden.mdpc01, Golden.customer, bytes("rid:x"), Golden.key42][...]).get().operation, bytes("rid:x"))
        XCTAssertEqual(try ClientWire.decodeRequest([Golden.mdpc01, Golden.customer, bytes("RID"), Golden.key42][...]).get().requestID, [])
    }

    func testDecodingASliceThatDoesNotStartAtZero() {
        // The broker passes `frames[1...]`: the routing id stays in front.
        let frames: [[UInt8]] = [hex("00 6b 8b 45 67"), Golden.mdpc01, Golden.customer, Golden.get, Golden.key42]
        XCTAssertEqual(ClientWire.decodeRequest(frames[1...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .mdpBare, tag: Golden.customer),
            section: Golden.customer, operation: Golden.get, key: Golden.key42, arguments: [])))
        let native: [[UInt8]] = [hex("00 6b 8b 45 67"), Golden.sgc02, Golden.correlation7, Golden.rid, Golden.customer, Golden.get, Golden.key42]
        XCTAssertEqual(ClientWire.decodeRequest(native[1...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .native, tag: Golden.correlation7),
            section: Golden.customer, operation: Golden.get, key: Golden.key42, arguments: [], requestID: Golden.rid)))
        let withRID: [[UInt8]] = [hex("00 6b 8b 45 67"), [], Golden.mdpc01, Golden.customer, Golden.mdpRID, Golden.get, Golden.key42]
        XCTAssertEqual(try ClientWire.decodeRequest(withRID[1...]).get().requestID, Golden.rid)
    }

    func testMMIServiceRequestNeedsNoKey() {
        // 8/MMI: MDPC01, mmi.service, <service name>.
        let frames: [[UInt8]] = [[], Golden.mdpc01, Golden.mmiService, Golden.customer]
        XCTAssertEqual(ClientWire.decodeRequest(frames[...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .mdpDelimited, tag: Golden.mmiService),
            section: Golden.mmiService, operation: Golden.customer, key: [], arguments: [])))
        let native: [[UInt8]] = [Golden.sgc02, hex("01"), Golden.rid, Golden.mmiService, Golden.customer]
        XCTAssertEqual(ClientWire.decodeRequest(native[...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .native, tag: hex("01")),
            section: Golden.mmiService, operation: Golden.customer, key: [], arguments: [], requestID: Golden.rid)))
        let withRID: [[UInt8]] = [Golden.mdpc01, Golden.mmiService, Golden.mdpRID, Golden.customer]
        XCTAssertEqual(ClientWire.decodeRequest(withRID[...]), .success(ClientWire.Request(
            envelope: ClientEnvelope(kind: .mdpBare, tag: Golden.mmiService),
            section: Golden.mmiService, operation: Golden.customer, key: [], arguments: [], requestID: Golden.rid)))
    }

    // MARK: - The retired native form

    func testSGC01RequestsAreAnsweredProtocolRetiredInTheirOwnForm() {
        let frames: [[UInt8]] = [hex("53 47 43 30 31"), Golden.correlation7, Golden.customer, Golden.put, Golden.key42, Golden.balance]
        guard case .failure(.reply(let envelope, let error)) = ClientWire.decodeRequest(frames[...]) else {
            return XCTFail("an SGC01 request is answered, got \(ClientWire.decodeRequest(frames[...]))")
        }
        XCTAssertEqual(envelope, ClientEnvelope(kind: .retiredNative, tag: Golden.correlation7))
        XCTAssertEqual(error.status, .badRequest)
        XCTAssertEqual(error.code, "protocol_retired")
        XCTAssertTrue(error.message.contains("SGC02"), error.message)
        // Whatever follows the correlation does not matter, even nothing.
        for rest in [[], [Golden.rid, Golden.customer, Golden.get, Golden.key42], [[]]] as [[[UInt8]]] {
            guard case .failure(.reply(let again, let retired)) = ClientWire.decodeRequest(([Golden.sgc01, Golden.correlation7] + rest)[...]) else {
                return XCTFail("SGC01 with \(rest.count) more frames")
            }
            XCTAssertEqual(again.kind, .retiredNative)
            XCTAssertEqual(retired.code, "protocol_retired")
        }
        // The reply: SGC01, correlation, 400, the error payload, meta.
        let reply = ClientWire.encodeReply(envelope: envelope, status: error.status, payload: bytes("{}"), meta: ReplyMeta(version: 0, unit: "").encoded)
        XCTAssertEqual(reply, [
            hex("53 47 43 30 31"),              // SGC01
            hex("00 00 00 00 00 00 00 07"),     // correlation
            hex("34 30 30"),                    // 400
            hex("7b 7d"),                       // payload
            hex("00 00 00 00 00 00 00 00"),     // meta
        ])
        XCTAssertNil(ClientWire.decodeNativeReply(reply), "an SGC02 client does not take an SGC01 reply")
        XCTAssertEqual(ClientEnvelope(encoded: envelope.encoded), envelope)
        XCTAssertEqual(envelope.encoded, hex("03 00 00 00 00 00 00 00 07"))
    }

    func testSGC01WithoutAUsableCorrelationIsDropped() {
        XCTAssertEqual(ClientWire.decodeRequest([Golden.sgc01][...]), .failure(.drop("native request without a correlation frame")))
        XCTAssertEqual(ClientWire.decodeRequest([Golden.sgc01, [], Golden.customer][...]), .failure(.drop("correlation id must be 1 to 32 bytes")))
        XCTAssertEqual(ClientWire.decodeRequest([Golden.sgc01, Array(repeating: 7, count: 33)][...]), .failure(.drop("correlation id must be 1 to 32 bytes")))
        guard case .failure(.drop) = ClientWire.decodeRequest([[], Golden.sgc01, Golden.correlation7, Golden.customer, Golden.get, Golden.key42][...]) else {
            return XCTFail("SGC01 after a delimiter is not understood")
        }
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
            hex("53 47 43 30 32"), hex("00 00 00 00 00 00 00 07"), hex("34 30 39"), hex("78"),
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
        let good: [[UInt8]] = [Golden.sgc02, hex("01"), hex("32 30 30"), [], hex("00 00 00 00 00 00 00 00")]
        XCTAssertNotNil(ClientWire.decodeNativeReply(good))
        XCTAssertNil(ClientWire.decodeNativeReply([]))
        XCTAssertNil(ClientWire.decodeNativeReply(Array(good.dropLast())), "four frames")
        XCTAssertNil(ClientWire.decodeNativeReply(good + [[]]), "six frames")
        XCTAssertNil(ClientWire.decodeNativeReply([Golden.mdpc01] + good.dropFirst()), "MDP header")
        XCTAssertNil(ClientWire.decodeNativeReply([Golden.sgc01] + good.dropFirst()), "the retired header")
        XCTAssertNil(ClientWire.decodeNativeReply([Golden.sgc02, hex("01"), hex("32 30"), [], []]), "two-digit status")
        XCTAssertNil(ClientWire.decodeNativeReply([Golden.sgc02, hex("01"), hex("32 30 31"), [], []]), "unknown status")
        // A short meta frame is tolerated: version 0, no unit.
        XCTAssertEqual(ClientWire.decodeNativeReply([Golden.sgc02, hex("01"), hex("32 30 30"), [], hex("01 02")])?.meta, ReplyMeta())
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
            (ClientEnvelope(kind: .retiredNative, tag: hex("41")), hex("03 41")),
        ]
        for (envelope, encoded) in cases {
            XCTAssertEqual(envelope.encoded, encoded)
            XCTAssertEqual(ClientEnvelope(encoded: encoded), envelope)
        }
        XCTAssertNil(ClientEnvelope(encoded: []))
        XCTAssertNil(ClientEnvelope(encoded: hex("04 41")), "unknown kind")
        XCTAssertNil(ClientEnvelope(encoded: hex("ff")))
    }

    func testPreviewIsPrintableAndBounded() {
        XCTAssertEqual(preview(bytes("customer")), "customer")
        XCTAssertEqual(preview([0x41, 0x00, 0x0a, 0x7f, 0x42]), "A...B")
        XCTAssertEqual(preview(bytes("abcdef"), limit: 3), "abc...")
        XCTAssertEqual(preview([]), "")
    }
}
