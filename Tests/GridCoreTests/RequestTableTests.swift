import GridCore
import XCTest

/// A partition's memory of requests (exactly-once): replies per client, the floor,
/// the bounds, and the determinism replicas rely on.
final class RequestTableTests: XCTestCase {
    private func record(_ client: String, _ sequence: UInt64, floor: UInt64 = 0, payload: String = "ok") -> RequestRecord {
        RequestRecord(id: RequestID(client: bytes(client), sequence: sequence, floor: floor),
                      reply: RecordedReply(status: .ok, payload: bytes(payload), version: sequence))
    }

    func testASeenRequestIsReplayedAndAnUnseenOneIsFresh() {
        var table = RequestTable()
        XCTAssertEqual(table.lookup(RequestID(client: bytes("a"), sequence: 1)), .fresh)
        table.record(record("a", 1, payload: "first"), at: 10)
        guard case .replay(let entry) = table.lookup(RequestID(client: bytes("a"), sequence: 1)) else { return XCTFail() }
        XCTAssertEqual(entry.reply.payload, bytes("first"))
        XCTAssertEqual(entry.recordedAt, 10)
        XCTAssertEqual(table.lookup(RequestID(client: bytes("a"), sequence: 2)), .fresh)
        XCTAssertEqual(table.lookup(RequestID(client: bytes("b"), sequence: 1)), .fresh, "clients are apart")
    }

    func testTheFloorForgetsRepliesTheClientHasAndExpiresOlderNumbers() {
        var table = RequestTable()
        for sequence in UInt64(1)...5 { table.record(record("a", sequence), at: sequence) }
        table.record(record("a", 6, floor: 4), at: 6)
        XCTAssertEqual(table.windows[ClientKey(bytes("a"))]?.replies.keys.sorted(), [4, 5, 6])
        XCTAssertEqual(table.lookup(RequestID(client: bytes("a"), sequence: 3)), .expired)
        if case .replay = table.lookup(RequestID(client: bytes("a"), sequence: 4)) {} else { XCTFail("at the floor: still kept") }
    }

    func testAtMostSoManyRepliesPerClientAndSoManyClients() {
        var table = RequestTable(maximumClients: 3, maximumPerClient: 2)
        for sequence in UInt64(1)...4 { table.record(record("a", sequence), at: sequence) }
        XCTAssertEqual(table.windows[ClientKey(bytes("a"))]?.replies.keys.sorted(), [3, 4])
        XCTAssertEqual(table.lookup(RequestID(client: bytes("a"), sequence: 1)), .expired, "dropped for the bound: never applied again")
        table.record(record("b", 1), at: 5)
        table.record(record("c", 1), at: 6)
        table.record(record("a", 5), at: 7)   // a is the most recent again
        table.record(record("d", 1), at: 8)   // four clients: b, the least recent, goes
        XCTAssertEqual(table.clientCount, 3)
        XCTAssertEqual(table.lookup(RequestID(client: bytes("b"), sequence: 1)), .fresh)
        if case .replay = table.lookup(RequestID(client: bytes("a"), sequence: 5)) {} else { XCTFail() }
    }

    /// A backup records the same records in the same order and must hold the same table;
    /// a snapshot's export and import give it back whole.
    func testReplicasAndSnapshotsHoldTheSameTable() {
        var random = SplitMix64(seed: 0x7AB1_E001)
        var primary = RequestTable(maximumClients: 20, maximumPerClient: 8)
        var backup = RequestTable(maximumClients: 20, maximumPerClient: 8)
        var next: [Int: UInt64] = [:]
        for position in 1...2_000 {
            let client = random.below(40)
            let sequence = (next[client] ?? 0) + 1
            next[client] = sequence
            let entry = record("c\(client)", sequence, floor: sequence > 3 ? sequence - UInt64(random.below(4)) : 0)
            primary.record(entry, at: UInt64(position))
            backup.record(entry, at: UInt64(position))
        }
        XCTAssertEqual(primary, backup)
        XCTAssertEqual(primary.clientCount, 20)
        let restored = RequestTable(imported: primary.exported, maximumClients: 20, maximumPerClient: 8)
        XCTAssertEqual(restored, primary)
    }

    func testAPartitionStoreRecordsWithTheChangeAndItsBackupFromTheChange() {
        var primary = PartitionStore(partition: 0, epoch: 1)
        var change = primary.put(bytes("k"), bytes("v"))
        let request = record("a", 1)
        primary.record(request, at: change.sequence)
        change.request = request
        var backup = PartitionStore(partition: 0, epoch: 1)
        backup.apply(change)
        XCTAssertEqual(backup.requests, primary.requests)
    }

    func testLineageTellsWhichEpochWroteWhat() {
        var store = PartitionStore(partition: 0, epoch: 1)
        _ = store.put(bytes("a"), bytes("1"))
        _ = store.put(bytes("b"), bytes("1"))
        store.replace(entries: store.entries, sequence: 2, epoch: 4, lastEpoch: 1, requests: store.requests)  // a new lease
        _ = store.put(bytes("c"), bytes("1"))
        XCTAssertNil(store.epoch(at: 1), "before what a snapshot-like replace keeps: unknown")
        XCTAssertEqual(store.epoch(at: 2), 1)
        XCTAssertEqual(store.epoch(at: 3), 4)
        XCTAssertNil(store.epoch(at: 4))
        XCTAssertTrue(store.contains(epoch: 1, sequence: 2))
        XCTAssertFalse(store.contains(epoch: 2, sequence: 2), "another epoch's change 2 is another history")
        XCTAssertTrue(store.contains(epoch: 0, sequence: 0))
        let loaded = PartitionStore(partition: 0, epoch: 9, sequence: 50, entries: [:])
        XCTAssertFalse(loaded.contains(epoch: 9, sequence: 50), "a load without a label continues no known history")
    }
}
