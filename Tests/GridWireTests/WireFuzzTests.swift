import Foundation
import GridCore
import GridWire
import XCTest

/// Random frame lists fed to both decoders: never a crash, and every success re-encodes to what was read.
final class WireFuzzTests: XCTestCase {
    /// Real frames, mixed in often so decoding goes past the header checks.
    private static let vocabulary: [[UInt8]] = [
        [], [], [], Golden.mdpc01, Golden.sgc01, Golden.mdpw01,
        hex("01"), hex("02"), hex("03"), hex("04"), hex("05"), hex("10"),
        Golden.customer, Golden.get, Golden.key42, Golden.mmiService, Golden.correlation7,
        hex("32 30 30"), hex("34 30 39"), hex("35 30 33"),
        hex("00 00 00 96 00 00 00 00 00 00 00 03"),                   // a route
        hex("00 00 00 01 00 00 00 00 00 00 00 02 01"),                // one lease
        hex("00 00 00 01 00 00 00 00 00 00 00 02 02 00 00 00 02 00 00 00 00 00 00 00 03 01"),
        Array(#"{"operations":["get"],"pid":1,"wire":1}"#.utf8),
        Array(repeating: 7, count: 32), Array(repeating: 7, count: 33),
    ]

    /// Frame prefixes that reach each decoder branch.
    private static let prefixes: [[[UInt8]]] = [
        [], [[]], [Golden.mdpc01], [[], Golden.mdpc01], [Golden.sgc01], [Golden.sgc01, hex("01")],
        [[], Golden.mdpw01], [[], Golden.mdpw01, hex("01")], [[], Golden.mdpw01, hex("02")],
        [[], Golden.mdpw01, hex("03")], [[], Golden.mdpw01, hex("10")], [[], Golden.mdpw01, hex("04")],
    ]

    /// Valid messages of every kind, to mutate.
    private static let seeds: [[[UInt8]]] = [
        ClientWire.encodeNativeRequest(correlation: Golden.correlation7, section: "customer", operation: "put", key: Golden.key42, arguments: [Golden.balance]),
        [[], Golden.mdpc01, Golden.customer, Golden.get, Golden.key42],
        [Golden.mdpc01, Golden.mmiService, Golden.customer],
        UnitMessage.ready(section: "customer", unit: "customer-1", report: UnitReport(operations: ["get"], pid: 3)).frames,
        UnitMessage.request(client: hex("00 6b 8b 45 67"), envelope: hex("02 01"), route: Route(partition: 3, epoch: 4),
                            operation: Golden.get, key: Golden.key42, arguments: [hex("01")]).frames,
        UnitMessage.reply(client: hex("00 6b 8b 45 67"), envelope: hex("02 01"), status: .ok, payload: [], meta: ReplyMeta().encoded).frames,
        UnitMessage.assign(leases: [Lease(partition: 1, epoch: 1, role: .primary)]).frames,
        UnitMessage.heartbeat.frames,
        UnitMessage.disconnect.frames,
    ]

    private func randomBytes(_ random: inout SplitMix64, count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    private func randomFrame(_ random: inout SplitMix64) -> [UInt8] {
        if Int.random(in: 0..<5, using: &random) < 2 { return Self.vocabulary.randomElement(using: &random)! }
        return randomBytes(&random, count: Int.random(in: 0...40, using: &random))
    }

    /// Either a known prefix and 0-8 random frames, or a valid message with a few mutations.
    private func randomFrames(_ random: inout SplitMix64) -> [[UInt8]] {
        if Bool.random(using: &random) {
            let prefix = Self.prefixes.randomElement(using: &random)!
            return prefix + (0..<Int.random(in: 0...8, using: &random)).map { _ in randomFrame(&random) }
        }
        var frames = Self.seeds.randomElement(using: &random)!
        for _ in 0..<Int.random(in: 0...3, using: &random) {
            let index = frames.isEmpty ? 0 : Int.random(in: 0..<frames.count, using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0: if !frames.isEmpty { frames.remove(at: index) }
            case 1: frames.insert(randomFrame(&random), at: index)
            case 2: if !frames.isEmpty { frames[index] = randomFrame(&random) }
            case 3:
                if !frames.isEmpty, !frames[index].isEmpty {
                    frames[index][Int.random(in: 0..<frames[index].count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            case 4: if !frames.isEmpty { frames[index] = Array(frames[index].prefix(Int.random(in: 0...frames[index].count, using: &random))) }
            default: frames.append(randomFrame(&random))
            }
        }
        return frames
    }

    /// The frames a client would have sent for `request`.
    private func clientFrames(_ request: ClientWire.Request) -> [[UInt8]] {
        let body = [request.section, request.operation, request.key] + request.arguments
        switch request.envelope.kind {
        case .native: return [ClientWire.nativeHeader, request.envelope.tag] + body
        case .mdpDelimited: return [[], ClientWire.mdpHeader] + body
        case .mdpBare: return [ClientWire.mdpHeader] + body
        }
    }

    func testRandomFrameListsNeverCrashAndSuccessesReencodeConsistently() {
        var random = SplitMix64(seed: 0xD15EA5E)
        var clientKinds: [ClientEnvelope.Kind: Int] = [:]
        var clientDrops = 0, clientReplies = 0
        var unitCommands: [UnitMessage.Command: Int] = [:]
        var unitRefusals = 0

        for iteration in 0..<20_000 {
            let frames = randomFrames(&random)
            // Built only when an assertion fails (XCTest messages are autoclosures).
            var context: String { "iteration \(iteration): \(frames.map { $0.map { String(format: "%02x", $0) }.joined() })" }

            switch ClientWire.decodeRequest(frames[...]) {
            case .success(let request):
                clientKinds[request.envelope.kind, default: 0] += 1
                var expected = clientFrames(request)
                if expected.count == frames.count + 1 {
                    // Only an 8/MMI request may omit its key frame, which decodes as an empty key.
                    XCTAssertTrue(request.section.starts(with: Array("mmi.".utf8)), context)
                    XCTAssertEqual(request.key, [], context)
                    XCTAssertEqual(request.arguments, [], context)
                    expected.removeLast()
                }
                XCTAssertEqual(expected, frames, context)
                XCTAssertEqual(ClientWire.decodeRequest(clientFrames(request)[...]), .success(request), context)
                if request.envelope.kind == .native {
                    XCTAssert((1...32).contains(request.envelope.tag.count), context)
                } else {
                    XCTAssertEqual(request.envelope.tag, request.section, context)
                    XCTAssertLessThanOrEqual(request.section.count, 255, context)
                }
                XCTAssertEqual(ClientEnvelope(encoded: request.envelope.encoded), request.envelope, context)
            case .failure(.drop(let reason)):
                clientDrops += 1
                XCTAssertFalse(reason.isEmpty, context)
            case .failure(.reply(let envelope, let error)):
                clientReplies += 1
                XCTAssertEqual(error.status, .badRequest, context)
                XCTAssertEqual(error.code, "malformed", context)
                // The refusal can be addressed: its reply decodes on the client side.
                let reply = ClientWire.encodeReply(envelope: envelope, status: error.status, payload: error.payload, meta: ReplyMeta().encoded)
                if envelope.kind == .native {
                    XCTAssertEqual(ClientWire.decodeNativeReply(reply)?.correlation, envelope.tag, context)
                }
            }

            switch UnitMessage.decode(frames[...]) {
            case .success(let message):
                unitCommands[message.command, default: 0] += 1
                XCTAssertEqual(UnitMessage.decode(message.frames[...]), .success(message), context)
                switch message {
                case .request, .reply, .assign:
                    XCTAssertEqual(message.frames, frames, context)
                case .heartbeat, .disconnect:
                    XCTAssertEqual(message.frames, Array(frames.prefix(3)), context)
                case .ready:
                    XCTAssertEqual(Array(message.frames.prefix(5)), Array(frames.prefix(5)), context)
                }
            case .failure(let error):
                unitRefusals += 1
                XCTAssertEqual(error.status, .badRequest, context)
                XCTAssertEqual(error.code, "malformed", context)
            }

            // The small decoders must not crash on any frame either.
            _ = ClientWire.decodeNativeReply(frames)
            for frame in frames {
                _ = ReplyMeta(decoding: frame)
                _ = ClientEnvelope(encoded: frame)
                _ = Status(ascii: frame)
            }
        }

        // The generator must actually reach every branch, or the test proves little.
        for kind in [ClientEnvelope.Kind.native, .mdpDelimited, .mdpBare] {
            XCTAssertGreaterThan(clientKinds[kind, default: 0], 50, "client \(kind) successes")
        }
        XCTAssertGreaterThan(clientDrops, 1_000)
        XCTAssertGreaterThan(clientReplies, 100)
        for command in [UnitMessage.Command.ready, .request, .reply, .heartbeat, .disconnect, .assign] {
            XCTAssertGreaterThan(unitCommands[command, default: 0], 5, "unit \(command) successes")
        }
        XCTAssertGreaterThan(unitRefusals, 1_000)
    }
}
