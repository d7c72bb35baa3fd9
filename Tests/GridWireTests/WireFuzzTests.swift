import Foundation
import GridCore
import GridWire
import XCTest

/// Random and truncated frame lists fed to every decoder (client, direct, unit, replication,
/// commit, invalidation, peer, request ids, records and tables, JSON bodies): never a crash,
/// and every success re-encodes to what was read.
final class WireFuzzTests: XCTestCase {
    private static let record = RequestWire.encode(RequestRecord(id: Golden.ridValue, reply: RecordedReply(status: .ok, payload: [1], version: 9)))
    private static let table = RequestWire.encode(RequestTable(imported: [
        (client: [0x62], window: RequestTable.Window(
            replies: [1: RequestTable.Entry(reply: RecordedReply(status: .ok, payload: [], version: 4), recordedAt: 4)], lastUsed: 4)),
        (client: [0x63, 0x64], window: RequestTable.Window(floor: 2, evictedThrough: 1, lastUsed: 6)),
    ]))
    private static let changeWithRecord = Change(partition: 17, epoch: 3, sequence: 10, key: Golden.key42, version: 10, kind: .put, value: Golden.balance,
                                                 request: RequestRecord(id: Golden.ridValue, reply: RecordedReply(status: .ok, payload: [], version: 10)))

    /// Real frames, mixed in often so decoding goes past the header checks.
    private static let vocabulary: [[UInt8]] = [
        [], [], [], Golden.mdpc01, Golden.sgc01, Golden.sgc02, Golden.sgd02, Golden.mdpw01,
        hex("01"), hex("02"), hex("03"), hex("04"), hex("05"), hex("06"), hex("07"), hex("08"), hex("09"), hex("10"), hex("11"),
        Golden.customer, Golden.get, Golden.key42, Golden.mmiService, Golden.correlation7,
        Golden.rid, Golden.rid, Golden.mdpRID, Golden.mdpRID, hex("52 49 44 3a"),
        hex("32 30 30"), hex("34 30 39"), hex("35 30 33"),
        hex("00 00 00 96 00 00 00 00 00 00 00 03"),                   // a route; partition, epoch
        Array(#"{"assign":1,"assignments":[{"backups":["b"],"epoch":2,"in_sync":["b"],"load":3,"partition":1,"primary":"a","role":"primary"}],"#.utf8)
            + Array(#""peers":{"b":{"incarnation":5,"publisher":"p","replication":"r"}},"stamp":4}"#.utf8),
        Array(#"{"assign":0,"assignments":[],"peers":{},"stamp":0}"#.utf8),
        Array(#"{"holdings":[[1,2,3,4,true],[2,1,1,1,true,["b"]]],"incarnation":1,"operations":["get"],"pid":1,"publisher":"","replication":"","stamp":2,"wire":3}"#.utf8),
        hex("00 00 00 01 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 03 01 03 00 00 00 00 00 00 00 00 00 00 00 00"), // a report record
        Array(repeating: 0, count: 24) + Array(repeating: 0xff, count: 8),                                           // report meta, not loading
        Array(repeating: 7, count: 32), Array(repeating: 7, count: 33), Array(repeating: 0, count: 8),
        // Replication and peer frames.
        Golden.sgp02,
        hex("63 75 73 74 6f 6d 65 72 2e 31 37"),                                // customer.17
        hex("63 75 73 74 6f 6d 65 72 2e 63 6f 6d 6d 69 74"),                    // customer.commit
        hex("69 6e 76 61 6c 69 64 61 74 65 3a 63 75 73 74 6f 6d 65 72"),       // invalidate:customer
        hex("02 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 09 01 00 00 00 00 00 00 00 09"), // change header (layout 2)
        hex("00 00 00 00 00 00 00 09"),                                         // a version, an echo
        hex("00 00 00 11 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 2a"),     // partition, epoch, u64: 20 bytes
        hex("00 00 00 11 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 2a 00 00 00 00 00 00 00 07"), // an ack record: 28 bytes
        hex("00 00 00 11 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 2a 01"),  // a stored record: 21 bytes
        hex("00 00 00 11 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 2a 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 07"), // catch-up
        hex("00 00 00 11 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 09 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 08 03"), // chunk head
        hex("00 00 00 02 34 32 00 00 00 00 00 00 00 07 00 00 00 01 76"),        // a snapshot entry
        hex("00 00 00 00 00 00 00 0a 00 00 00 00 00 00 00 03 01 00 00 00 00 00 00 00 0a 00 00 00 02 34 32 00 00 00 01 76"), // a change
        hex("00 00 00 00 00 00 00 0a 00 00 00 00 00 00 00 03 81 00 00 00 00 00 00 00 0a 00 00 00 02 34 32 00 00 00 01 76") + record,
        record, table,
    ]

    /// Frame prefixes that reach each decoder branch.
    private static let prefixes: [[[UInt8]]] = [
        [], [[]], [Golden.mdpc01], [[], Golden.mdpc01], [Golden.mdpc01, Golden.customer], [Golden.sgc02], [Golden.sgc02, hex("01")],
        [Golden.sgc02, hex("01"), Golden.rid], [Golden.sgc01, hex("01")], [Golden.sgd02, hex("01")], [Golden.sgd02, hex("01"), Golden.rid],
        [[], Golden.mdpw01], [[], Golden.mdpw01, hex("01")], [[], Golden.mdpw01, hex("02")],
        [[], Golden.mdpw01, hex("03")], [[], Golden.mdpw01, hex("10")], [[], Golden.mdpw01, hex("04")],
        [[], Golden.mdpw01, hex("11")],
        [Golden.sgp02, hex("01")], [Golden.sgp02, hex("02")], [Golden.sgp02, hex("03")], [Golden.sgp02, hex("04")], [Golden.sgp02, hex("05")],
        [Golden.sgp02, hex("06")], [Golden.sgp02, hex("07")], [Golden.sgp02, hex("08")], [Golden.sgp02, hex("09")],
        [hex("63 75 73 74 6f 6d 65 72 2e 31 37")], [hex("69 6e 76 61 6c 69 64 61 74 65 3a 63 75 73 74 6f 6d 65 72")],
        [hex("63 75 73 74 6f 6d 65 72 2e 63 6f 6d 6d 69 74")],
    ]

    /// Valid messages of every kind, to mutate and to cut.
    private static let seeds: [[[UInt8]]] = [
        ClientWire.encodeNativeRequest(correlation: Golden.correlation7, requestID: Golden.ridValue, section: "customer", operation: "put",
                                       key: Golden.key42, arguments: [Golden.balance]),
        [Golden.sgc01, Golden.correlation7, Golden.customer, Golden.get, Golden.key42],
        [[], Golden.mdpc01, Golden.customer, Golden.get, Golden.key42],
        [Golden.mdpc01, Golden.customer, Golden.mdpRID, Golden.put, Golden.key42, Golden.balance],
        [[], Golden.mdpc01, Golden.customer, Golden.mdpRID, Golden.get, Golden.key42],
        [Golden.mdpc01, Golden.mmiService, Golden.customer],
        ClientWire.encodeDirectRequest(correlation: Golden.correlation7, requestID: Golden.ridValue, route: Route(partition: 17, epoch: 3),
                                       section: Golden.customer, operation: Golden.put, key: Golden.key42, arguments: [Golden.balance]),
        ClientWire.encodeReply(envelope: ClientEnvelope(kind: .native, tag: Golden.correlation7), status: .ok, payload: [], meta: ReplyMeta(version: 1, unit: "u").encoded),
        UnitMessage.ready(section: "customer", unit: "customer-1", report: UnitReport(
            operations: ["get"], pid: 3, holdings: [ReportRecord(holding: Holding(partition: 1, role: .primary, epoch: 1, sequence: 1, inSync: true,
                                                                                   inSyncBackups: ["b"]))],
            incarnation: 9, stamp: 8)).frames,
        UnitMessage.request(client: hex("00 6b 8b 45 67"), envelope: hex("02 01"), route: Route(partition: 3, epoch: 4), requestID: Golden.rid,
                            operation: Golden.get, key: Golden.key42, arguments: [hex("01")]).frames,
        UnitMessage.request(client: hex("00 6b 8b 45 67"), envelope: hex("02 01"), route: Route(partition: 3, epoch: 4), requestID: [],
                            operation: Golden.get, key: Golden.key42, arguments: []).frames,
        UnitMessage.reply(client: hex("00 6b 8b 45 67"), envelope: hex("02 01"), status: .ok, payload: [], meta: ReplyMeta().encoded).frames,
        UnitMessage.assign(AssignBody(
            assign: 2, stamp: 3,
            assignments: [Assignment(lease: Lease(partition: 1, epoch: 1, role: .primary), primary: "a", backups: ["b"], inSync: ["b"], load: 4)],
            peers: ["b": AssignBody.Peer(publisher: "tcp://b:1", replication: "tcp://b:2", incarnation: 7)])).frames,
        UnitMessage.report(records: [
            ReportRecord(holding: Holding(partition: 1, role: .primary, epoch: 2, sequence: 3, inSync: true), inSyncMask: 1, behind: 1,
                         unacknowledgedMilliseconds: 5),
            ReportRecord(holding: Holding(partition: 2, role: .backup, epoch: 2, sequence: 3, inSync: false)),
        ], meta: ReportMeta(fenced: 1, stamp: 2, assign: 3, loading: 4)).frames,
        UnitMessage.heartbeat().frames,
        UnitMessage.heartbeat(echo: 9).frames,
        UnitMessage.disconnect.frames,
        ReplicationWire.encode(section: "customer", Change(partition: 17, epoch: 3, sequence: 9, key: Golden.key42, version: 9, kind: .put, value: Golden.balance)),
        ReplicationWire.encode(section: "customer", changeWithRecord),
        ReplicationWire.encodeCommits(topic: ReplicationWire.commitTopic(section: "customer"), [
            ReplicationWire.Commit(partition: 1, epoch: 2, committed: 3), ReplicationWire.Commit(partition: 4, epoch: 5, committed: 6),
        ]),
        ReplicationWire.encodeInvalidation(topic: ReplicationWire.invalidationTopic(section: "customer"), key: Golden.key42, version: 9),
        PeerMessage.acknowledge(unit: "customer-2", records: [PeerMessage.AckRecord(partition: 1, epoch: 2, sequence: 3, follow: 4)]).frames,
        PeerMessage.snapshotRequest(unit: "customer-2", partition: 17, epoch: 3, follow: 4).frames,
        PeerMessage.catchUpRequest(unit: "customer-2", partition: 17, epoch: 3, from: 4, dataEpoch: 2, follow: 5).frames,
        PeerMessage.snapshotChunk(PeerMessage.SnapshotChunk(partition: 17, epoch: 3, sequence: 9, lastEpoch: 2, committed: 8, first: true, last: false,
                                                            entries: [(Golden.key42, Entry(value: Golden.balance, version: 9))])).frames,
        PeerMessage.snapshotChunk(PeerMessage.SnapshotChunk(partition: 17, epoch: 3, sequence: 9, lastEpoch: 2, committed: 8, first: false, last: true,
                                                            entries: [(Golden.key42, Entry(value: Golden.balance, version: 9))],
                                                            requests: RequestWire.decodeTable(table))).frames,
        PeerMessage.changes(partition: 17, epoch: 3, committed: 8, changes: [
            Change(partition: 17, epoch: 2, sequence: 9, key: Golden.key42, version: 9, kind: .put, value: Golden.balance),
            changeWithRecord,
            Change(partition: 17, epoch: 3, sequence: 11, key: Golden.key42, version: 11, kind: .delete, value: []),
        ]).frames,
        PeerMessage.changes(partition: 17, epoch: 3, committed: 9, changes: [
            Change(partition: 17, epoch: 3, sequence: 10, key: Golden.key42, version: 10, kind: .delete, value: []),
        ]).frames,
        PeerMessage.refused(partition: 17, epoch: 3).frames,
        PeerMessage.stored(mirror: "mirror", records: [PeerMessage.StoredRecord(partition: 1, epoch: 2, sequence: 3, sealed: true),
                                                       PeerMessage.StoredRecord(partition: 2, epoch: 2, sequence: 4)]).frames,
        PeerMessage.inSync(partition: 17, epoch: 3, follow: 4).frames,
        PeerMessage.seal(unit: "customer-1", records: [PeerMessage.AckRecord(partition: 1, epoch: 2, sequence: 3)]).frames,
    ]

    /// Successes and refusals per decoder branch.
    private struct Tally {
        var counts: [String: Int] = [:]
        mutating func count(_ name: String) { counts[name, default: 0] += 1 }
        subscript(_ name: String) -> Int { counts[name, default: 0] }
    }

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
        let tail = [request.operation, request.key] + request.arguments
        let rid: [[UInt8]] = request.requestID.isEmpty ? [] : [RequestWire.mdpPrefix + request.requestID]
        switch request.envelope.kind {
        case .native: return [ClientWire.nativeHeader, request.envelope.tag, request.requestID, request.section] + tail
        case .mdpDelimited: return [[], ClientWire.mdpHeader, request.section] + rid + tail
        case .mdpBare: return [ClientWire.mdpHeader, request.section] + rid + tail
        case .retiredNative: return []   // never decoded as a request (checked below)
        }
    }

    /// Runs `frames` through every decoder, checking each success against its encoder.
    private func checkEveryDecoder(_ frames: [[UInt8]], _ tally: inout Tally, _ context: @autoclosure () -> String) {
        // Clients at the broker.
        switch ClientWire.decodeRequest(frames[...]) {
        case .success(let request):
            tally.count("client \(request.envelope.kind)\(request.requestID.isEmpty ? "" : " with id")")
            XCTAssertNotEqual(request.envelope.kind, .retiredNative, context())
            var expected = clientFrames(request)
            if expected.count == frames.count + 1 {
                // Only an 8/MMI request may omit its key frame, which decodes as an empty key.
                XCTAssertTrue(request.section.starts(with: Array("mmi.".utf8)), context())
                XCTAssertEqual(request.key, [], context())
                XCTAssertEqual(request.arguments, [], context())
                expected.removeLast()
            }
            XCTAssertEqual(expected, frames, context())
            XCTAssertEqual(ClientWire.decodeRequest(clientFrames(request)[...]), .success(request), context())
            if request.envelope.kind == .native {
                XCTAssert((1...32).contains(request.envelope.tag.count), context())
                XCTAssertNotNil(RequestWire.decodeID(request.requestID), context())
            } else {
                XCTAssertEqual(request.envelope.tag, request.section, context())
                XCTAssertLessThanOrEqual(request.section.count, 255, context())
                XCTAssert(request.requestID.isEmpty || RequestWire.decodeID(request.requestID) != nil, context())
            }
            XCTAssertEqual(ClientEnvelope(encoded: request.envelope.encoded), request.envelope, context())
        case .failure(.drop(let reason)):
            tally.count("client drop")
            XCTAssertFalse(reason.isEmpty, context())
        case .failure(.reply(let envelope, let error)):
            XCTAssertEqual(error.status, .badRequest, context())
            if envelope.kind == .retiredNative {
                tally.count("client retired")
                XCTAssertEqual(error.code, "protocol_retired", context())
                XCTAssertEqual(frames.first, ClientWire.retiredNativeHeader, context())
                XCTAssertEqual(ClientWire.encodeReply(envelope: envelope, status: error.status, payload: error.payload, meta: [])[0],
                               ClientWire.retiredNativeHeader, context())
            } else {
                tally.count("client malformed")
                XCTAssertEqual(error.code, "malformed", context())
            }
            // The refusal can be addressed: its reply decodes on the client side.
            let reply = ClientWire.encodeReply(envelope: envelope, status: error.status, payload: error.payload, meta: ReplyMeta().encoded)
            if envelope.kind == .native {
                XCTAssertEqual(ClientWire.decodeNativeReply(reply)?.correlation, envelope.tag, context())
            }
        }

        // Direct clients at a unit.
        switch ClientWire.decodeDirectRequest(frames[...]) {
        case .success(let request):
            tally.count("direct")
            XCTAssertEqual(ClientWire.encodeDirectRequest(correlation: request.correlation, requestID: request.requestID, route: request.route,
                                                          section: request.section, operation: request.operation, key: request.key,
                                                          arguments: request.arguments), frames, context())
        case .failure(.drop):
            tally.count("direct drop")
        case .failure(.reply(let envelope, let error)):
            tally.count("direct malformed")
            XCTAssertEqual(envelope.kind, .native, context())
            XCTAssertEqual(error.code, "malformed", context())
        }

        // Broker <-> units.
        switch UnitMessage.decode(frames[...]) {
        case .success(let message):
            tally.count("unit \(message.command)")
            XCTAssertEqual(UnitMessage.decode(message.frames[...]), .success(message), context())
            switch message {
            case .request(_, _, _, let requestID, _, _, _):
                XCTAssertEqual(message.frames, frames, context())
                XCTAssert(requestID.isEmpty || RequestWire.decodeID(requestID) != nil, context())
            case .reply:
                XCTAssertEqual(message.frames, frames, context())
            case .heartbeat(let echo):
                if echo != nil { tally.count("unit heartbeat with echo") }
                XCTAssertEqual(message.frames, Array(frames.prefix(echo == nil ? 3 : 4)), context())
                if echo == nil, frames.count > 3 { XCTAssertNotEqual(frames[3].count, 8, context()) }
            case .disconnect:
                XCTAssertEqual(message.frames, Array(frames.prefix(3)), context())
            case .ready:
                // The report is JSON: re-encoding may lay it out differently.
                XCTAssertEqual(Array(message.frames.prefix(5)), Array(frames.prefix(5)), context())
            case .assign:
                XCTAssertEqual(Array(message.frames.prefix(3)), Array(frames.prefix(3)), context())
                XCTAssertEqual(message.frames.count, frames.count, context())
            case .report(let records, _):
                // Binary: the same bytes, except that any non-zero in-sync byte reads as 1.
                XCTAssertEqual(frames.count, 5, context())
                XCTAssertEqual(Array(message.frames.prefix(3)), Array(frames.prefix(3)), context())
                XCTAssertEqual(message.frames.count, 5, context())
                XCTAssertEqual(message.frames.last, frames.last, context())   // the meta frame, as read
                XCTAssertEqual(records.count * 35, frames[3].count, context())
                var normalized = frames[3]
                for index in records.indices where normalized[index * 35 + 21] != 0 { normalized[index * 35 + 21] = 1 }
                XCTAssertEqual(message.frames[3], normalized, context())
            }
        case .failure(let error):
            tally.count("unit refused")
            XCTAssertEqual(error.status, .badRequest, context())
            XCTAssertEqual(error.code, "malformed", context())
        }

        // What units publish: a change, a commit or an invalidation, never two of them.
        let published = ReplicationWire.decode(frames)
        let commits = ReplicationWire.decodeCommits(frames)
        let invalidation = ReplicationWire.decodeInvalidation(frames)
        XCTAssertLessThanOrEqual([published != nil, commits != nil, invalidation != nil].filter { $0 }.count, 1, context())
        if let published {
            tally.count(published.change.request == nil ? "change" : "change with record")
            let again = ReplicationWire.encode(section: published.section, published.change)
            XCTAssertEqual(ReplicationWire.decode(again)?.section, published.section, context())
            XCTAssertEqual(ReplicationWire.decode(again)?.change, published.change, context())
            XCTAssertEqual(Array(again.dropFirst()), Array(frames.dropFirst()), context())
            XCTAssertEqual(ReplicationWire.decode([frames[0]] + Array(again.dropFirst()))?.change, published.change, context())
        }
        if let commits {
            tally.count("commit")
            XCTAssertEqual(ReplicationWire.encodeCommits(topic: ReplicationWire.commitTopic(section: commits.section), commits.commits), frames, context())
        }
        if let invalidation {
            tally.count("invalidation")
            let again = ReplicationWire.encodeInvalidation(topic: ReplicationWire.invalidationTopic(section: invalidation.section),
                                                           key: invalidation.key, version: invalidation.version)
            XCTAssertEqual(again, frames, context())
        }

        // The peer protocol: frames after the routing id.
        if let peer = PeerMessage.decode(frames[...]) {
            XCTAssertEqual(PeerMessage.decode(peer.frames[...]), peer, context())
            var normalized = frames
            switch peer {
            case .acknowledge: tally.count("acknowledge")
            case .snapshotRequest: tally.count("snapshotRequest")
            case .catchUpRequest: tally.count("catchUpRequest")
            case .snapshotChunk(let chunk):
                tally.count(chunk.requests == nil ? "snapshotChunk" : "snapshotChunk with table")
                // Only the two low flag bits mean anything.
                normalized[2][36] &= 3
                if let requests = chunk.requests {
                    // A table re-encodes in its own order (clients by last use, replies by sequence): compare values.
                    XCTAssertEqual(RequestWire.decodeTable(peer.frames[4]), requests, context())
                    normalized[4] = peer.frames[4]
                }
            case .changes(_, _, _, let changes):
                tally.count(changes.contains { $0.request != nil } ? "changes with record" : "changes")
            case .refused: tally.count("refused")
            case .stored(_, let records):
                tally.count("stored")
                // Only bit 0 of a record's flags means anything.
                for index in records.indices { normalized[3][index * 21 + 20] &= 1 }
            case .inSync: tally.count("inSync")
            case .seal: tally.count("seal")
            }
            XCTAssertEqual(peer.frames, normalized, context())
        }

        // The small decoders must not crash on any frame either, and their successes re-encode.
        _ = ClientWire.decodeNativeReply(frames)
        for frame in frames {
            _ = ReplyMeta(decoding: frame)
            _ = ClientEnvelope(encoded: frame)
            _ = Status(ascii: frame)
            if let id = RequestWire.decodeID(frame) {
                tally.count("request id")
                XCTAssertEqual(RequestWire.encode(id), frame, context())
            }
            if frame.starts(with: RequestWire.mdpPrefix), let id = RequestWire.decodeID(frame.dropFirst(4)) {
                XCTAssertEqual(RequestWire.mdpPrefix + RequestWire.encode(id), frame, context())
            }
            if let record = RequestWire.decodeRecord(frame) {
                tally.count("request record")
                XCTAssertEqual(RequestWire.encode(record), frame, context())
            }
            if let table = RequestWire.decodeTable(frame) {
                tally.count(table.isEmpty ? "empty request table" : "request table")
                XCTAssertEqual(RequestWire.decodeTable(RequestWire.encode(table)), table, context())
            }
            if frame.first == UInt8(ascii: "{") {
                if UnitReport(decoding: frame) != nil { tally.count("unit report") }
                if let body = AssignBody(decoding: frame) {
                    tally.count("assign body")
                    XCTAssertEqual(AssignBody(decoding: body.encoded), body, context())
                }
                _ = GridStatus(decoding: frame)
            }
        }
    }

    func testRandomFrameListsNeverCrashAndSuccessesReencodeConsistently() {
        var random = SplitMix64(seed: 0xD15EA5E)
        var tally = Tally()
        for iteration in 0..<20_000 {
            let frames = randomFrames(&random)
            checkEveryDecoder(frames, &tally,
                              "iteration \(iteration): \(frames.map { $0.map { String(format: "%02x", $0) }.joined() })")
        }

        // The generator must actually reach every branch, or the test proves little.
        XCTAssertEqual(tally["client native"], 0, "a native request always has an id")
        for name in ["client native with id", "client mdpDelimited", "client mdpDelimited with id", "client mdpBare", "client mdpBare with id"] {
            XCTAssertGreaterThan(tally[name], 50, "\(name) successes")
        }
        XCTAssertGreaterThan(tally["client drop"], 1_000)
        XCTAssertGreaterThan(tally["client malformed"], 100)
        XCTAssertGreaterThan(tally["client retired"], 50)
        XCTAssertGreaterThan(tally["direct"], 20)
        XCTAssertGreaterThan(tally["direct malformed"], 20)
        for command in ["ready", "request", "reply", "heartbeat", "heartbeat with echo", "disconnect", "assign", "report"] {
            XCTAssertGreaterThan(tally["unit \(command)"], 5, "unit \(command) successes")
        }
        XCTAssertGreaterThan(tally["unit refused"], 1_000)
        for kind in ["change", "change with record", "commit", "invalidation", "acknowledge", "snapshotRequest", "catchUpRequest", "snapshotChunk",
                     "snapshotChunk with table", "changes", "changes with record", "refused", "stored", "inSync", "seal",
                     "request id", "request record", "request table", "empty request table", "unit report", "assign body"] {
            XCTAssertGreaterThan(tally[kind], 5, "\(kind) successes")
        }
    }

    func testTruncatedMessagesNeverCrash() {
        // Every valid message, cut at every frame and every byte of every frame: each decoder refuses
        // or decodes consistently, and never traps.
        var tally = Tally()
        for (index, seed) in Self.seeds.enumerated() {
            for count in 0...seed.count {
                checkEveryDecoder(Array(seed.prefix(count)), &tally, "seed \(index), first \(count) frames")
            }
            for frame in seed.indices {
                for length in 0..<seed[frame].count {
                    var cut = seed
                    cut[frame] = Array(seed[frame].prefix(length))
                    checkEveryDecoder(cut, &tally, "seed \(index), frame \(frame) cut to \(length) bytes")
                    cut.removeSubrange((frame + 1)...)
                    checkEveryDecoder(cut, &tally, "seed \(index), frame \(frame) cut to \(length) bytes, the rest dropped")
                }
            }
        }
        // The whole seeds decode as what they are.
        for name in ["client native with id", "client mdpDelimited with id", "client mdpBare with id", "client retired", "direct", "unit ready",
                     "unit request", "unit heartbeat with echo", "unit report", "change with record", "commit", "snapshotChunk with table",
                     "changes with record", "stored", "inSync", "seal"] {
            XCTAssertGreaterThan(tally[name], 0, name)
        }
    }
}
