import Foundation
import GridCore
import GridWire
import XCTest

/// Random frame lists fed to every decoder (client, unit, replication, invalidation, peer):
/// never a crash, and every success re-encodes to what was read.
final class WireFuzzTests: XCTestCase {
    /// Real frames, mixed in often so decoding goes past the header checks.
    private static let vocabulary: [[UInt8]] = [
        [], [], [], Golden.mdpc01, Golden.sgc01, Golden.mdpw01,
        hex("01"), hex("02"), hex("03"), hex("04"), hex("05"), hex("06"), hex("10"), hex("11"),
        Golden.customer, Golden.get, Golden.key42, Golden.mmiService, Golden.correlation7,
        hex("32 30 30"), hex("34 30 39"), hex("35 30 33"),
        hex("00 00 00 96 00 00 00 00 00 00 00 03"),                   // a route
        Array(#"{"assignments":[{"backups":["b"],"epoch":2,"partition":1,"primary":"a","role":"primary"}],"peers":{}}"#.utf8),
        Array(#"{"assignments":[],"peers":{}}"#.utf8),
        Array(#"{"holdings":[[1,2,3,4,true]],"operations":["get"],"pid":1,"publisher":"","replication":"","wire":2}"#.utf8),
        hex("00 00 00 01 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 03 01 00 00 00 00 00 00 00 00 00 00 00 00"), // a report record
        Array(repeating: 7, count: 32), Array(repeating: 7, count: 33),
        // Replication and peer frames.
        hex("53 47 50 30 31"),                                                  // SGP01
        hex("63 75 73 74 6f 6d 65 72 2e 31 37"),                                // customer.17
        hex("69 6e 76 61 6c 69 64 61 74 65 3a 63 75 73 74 6f 6d 65 72"),       // invalidate:customer
        hex("01 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 09 01 00 00 00 00 00 00 00 09"), // change header
        hex("00 00 00 00 00 00 00 09"),                                         // a version
        hex("00 00 00 11 00 00 00 00 00 00 00 03"),                             // partition, epoch
        hex("00 00 00 11 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 2a"),     // partition, epoch, sequence
        hex("00 00 00 11 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 09 03"),  // snapshot head
        hex("00 00 00 02 34 32 00 00 00 00 00 00 00 07 00 00 00 01 76"),        // a snapshot entry
        hex("00 00 00 00 00 00 00 0a 01 00 00 00 00 00 00 00 0a 00 00 00 02 34 32 00 00 00 01 76"), // a change
    ]

    /// Frame prefixes that reach each decoder branch.
    private static let prefixes: [[[UInt8]]] = [
        [], [[]], [Golden.mdpc01], [[], Golden.mdpc01], [Golden.sgc01], [Golden.sgc01, hex("01")],
        [[], Golden.mdpw01], [[], Golden.mdpw01, hex("01")], [[], Golden.mdpw01, hex("02")],
        [[], Golden.mdpw01, hex("03")], [[], Golden.mdpw01, hex("10")], [[], Golden.mdpw01, hex("04")],
        [[], Golden.mdpw01, hex("11")],
        [hex("53 47 50 30 31"), hex("01")], [hex("53 47 50 30 31"), hex("02")], [hex("53 47 50 30 31"), hex("03")],
        [hex("53 47 50 30 31"), hex("04")], [hex("53 47 50 30 31"), hex("05")], [hex("53 47 50 30 31"), hex("06")],
        [hex("63 75 73 74 6f 6d 65 72 2e 31 37")], [hex("69 6e 76 61 6c 69 64 61 74 65 3a 63 75 73 74 6f 6d 65 72")],
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
        UnitMessage.assign(AssignBody(
            assignments: [Assignment(lease: Lease(partition: 1, epoch: 1, role: .primary), primary: "a", backups: ["b"])],
            peers: ["b": AssignBody.Peer(publisher: "tcp://b:1", replication: "tcp://b:2")])).frames,
        UnitMessage.report(records: [
            ReportRecord(holding: Holding(partition: 1, role: .primary, epoch: 2, sequence: 3, inSync: true), behind: 1, unacknowledgedMilliseconds: 5),
            ReportRecord(holding: Holding(partition: 2, role: .backup, epoch: 2, sequence: 3, inSync: false)),
        ]).frames,
        UnitMessage.heartbeat.frames,
        UnitMessage.disconnect.frames,
        ReplicationWire.encode(section: "customer", Change(partition: 17, epoch: 3, sequence: 9, key: Golden.key42, version: 9, kind: .put, value: Golden.balance)),
        ReplicationWire.encodeInvalidation(topic: ReplicationWire.invalidationTopic(section: "customer"), key: Golden.key42, version: 9),
        PeerMessage.acknowledge(unit: "customer-2", records: [PeerMessage.AckRecord(partition: 1, epoch: 2, sequence: 3)]).frames,
        PeerMessage.snapshotRequest(unit: "customer-2", partition: 17, epoch: 3).frames,
        PeerMessage.catchUpRequest(unit: "customer-2", partition: 17, epoch: 3, from: 4).frames,
        PeerMessage.snapshotChunk(partition: 17, epoch: 3, sequence: 9, first: true, last: true,
                                  entries: [(Golden.key42, Entry(value: Golden.balance, version: 9))]).frames,
        PeerMessage.changes(partition: 17, epoch: 3, changes: [
            Change(partition: 17, epoch: 3, sequence: 9, key: Golden.key42, version: 9, kind: .put, value: Golden.balance),
            Change(partition: 17, epoch: 3, sequence: 10, key: Golden.key42, version: 10, kind: .delete, value: []),
        ]).frames,
        PeerMessage.refused(partition: 17, epoch: 3).frames,
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
        var replicationKinds: [String: Int] = [:]

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
                case .request, .reply:
                    XCTAssertEqual(message.frames, frames, context)
                case .heartbeat, .disconnect:
                    XCTAssertEqual(message.frames, Array(frames.prefix(3)), context)
                case .ready:
                    // The report is JSON: re-encoding may lay it out differently.
                    XCTAssertEqual(Array(message.frames.prefix(5)), Array(frames.prefix(5)), context)
                case .assign:
                    XCTAssertEqual(Array(message.frames.prefix(3)), Array(frames.prefix(3)), context)
                    XCTAssertEqual(message.frames.count, frames.count, context)
                case .report(let records, _, let loading):
                    // Binary: the same bytes, except that any non-zero in-sync byte reads as 1;
                    // the fenced count frame is always written (as 0 when it was absent), the
                    // loading frame only while loading.
                    XCTAssertEqual(Array(message.frames.prefix(3)), Array(frames.prefix(3)), context)
                    XCTAssertEqual(message.frames.count, loading == nil ? 5 : 6, context)
                    if frames.count >= 5 { XCTAssertEqual(Array(message.frames[4...]), Array(frames[4...]), context) }
                    XCTAssertEqual(message.frames[3].count, frames[3].count, context)
                    XCTAssertEqual(records.count * 34, frames[3].count, context)
                    var normalized = frames[3]
                    for index in records.indices where normalized[index * 34 + 21] != 0 { normalized[index * 34 + 21] = 1 }
                    XCTAssertEqual(message.frames[3], normalized, context)
                }
            case .failure(let error):
                unitRefusals += 1
                XCTAssertEqual(error.status, .badRequest, context)
                XCTAssertEqual(error.code, "malformed", context)
            }

            // What units publish: a change or an invalidation, never both.
            let published = ReplicationWire.decode(frames)
            let invalidation = ReplicationWire.decodeInvalidation(frames)
            XCTAssertFalse(published != nil && invalidation != nil, context)
            if let published {
                replicationKinds["change", default: 0] += 1
                let again = ReplicationWire.encode(section: published.section, published.change)
                XCTAssertEqual(ReplicationWire.decode(again)?.section, published.section, context)
                XCTAssertEqual(ReplicationWire.decode(again)?.change, published.change, context)
                XCTAssertEqual(Array(again.dropFirst()), Array(frames.dropFirst()), context)
                XCTAssertEqual(ReplicationWire.decode([frames[0]] + Array(again.dropFirst()))?.change, published.change, context)
            }
            if let invalidation {
                replicationKinds["invalidation", default: 0] += 1
                let again = ReplicationWire.encodeInvalidation(topic: ReplicationWire.invalidationTopic(section: invalidation.section),
                                                               key: invalidation.key, version: invalidation.version)
                XCTAssertEqual(again, frames, context)
            }

            // The peer protocol: frames after the routing id.
            if let peer = PeerMessage.decode(frames[...]) {
                XCTAssertEqual(PeerMessage.decode(peer.frames[...]), peer, context)
                switch peer {
                case .acknowledge: replicationKinds["acknowledge", default: 0] += 1
                case .snapshotRequest: replicationKinds["snapshotRequest", default: 0] += 1
                case .catchUpRequest: replicationKinds["catchUpRequest", default: 0] += 1
                case .snapshotChunk: replicationKinds["snapshotChunk", default: 0] += 1
                case .changes: replicationKinds["changes", default: 0] += 1
                case .refused: replicationKinds["refused", default: 0] += 1
                case .stored: replicationKinds["stored", default: 0] += 1
                }
                if case .snapshotChunk = peer {
                    // Only the two low flag bits mean anything; the rest is the same bytes.
                    var normalized = frames
                    normalized[2][20] &= 3
                    XCTAssertEqual(peer.frames, normalized, context)
                } else {
                    XCTAssertEqual(peer.frames, frames, context)
                }
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
        for command in [UnitMessage.Command.ready, .request, .reply, .heartbeat, .disconnect, .assign, .report] {
            XCTAssertGreaterThan(unitCommands[command, default: 0], 5, "unit \(command) successes")
        }
        for kind in ["change", "invalidation", "acknowledge", "snapshotRequest", "catchUpRequest", "snapshotChunk", "changes", "refused"] {
            XCTAssertGreaterThan(replicationKinds[kind, default: 0], 5, "\(kind) successes")
        }
        XCTAssertGreaterThan(unitRefusals, 1_000)
    }
}
