import GridCore
import XCTest

/// A unit's partitions end to end without sockets: a primary store and a backup
/// store wired by hand (the primary's log and snapshots to the backup, the
/// backup's acknowledgements back), as the unit shells do over PUB/SUB and ROUTER/DEALER.
final class UnitStoreTests: XCTestCase {
    // MARK: - Helpers

    private func primaryLease(_ partition: Int, epoch: UInt64, unit: String = "p", backups: [String] = ["b"]) -> Assignment {
        Assignment(lease: Lease(partition: partition, epoch: epoch, role: .primary), primary: unit, backups: backups)
    }

    private func backupLease(_ partition: Int, epoch: UInt64, primary: String = "p", backups: [String] = ["b"]) -> Assignment {
        Assignment(lease: Lease(partition: partition, epoch: epoch, role: .backup), primary: primary, backups: backups)
    }

    private func put(_ store: inout UnitStore, _ route: Route, _ key: String, _ value: String, sync: Bool = true, now: UInt64 = 0) -> UnitStore.Served {
        store.handle(route: route, operation: .put, key: bytes(key), arguments: [bytes(value)], sync: sync, now: now)
    }

    /// The follower of `partition` on a backup store.
    private func follower(_ store: UnitStore, _ partition: Int) -> ReplicaFollower? {
        if case .backup(let follower, _)? = store.held[partition] { return follower }
        return nil
    }

    private func assertFenced(_ outcome: OperationOutcome, holding: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(outcome.status, .misdirected, file: file, line: line)
        XCTAssertNil(outcome.change, file: file, line: line)
        let error = GridError(status: outcome.status, payload: outcome.payload)
        XCTAssertEqual(error.code, "stale_epoch", file: file, line: line)
        XCTAssertTrue(error.message.contains("(this unit holds \(holding))"), error.message, file: file, line: line)
    }

    /// Carries a backup's directives to its primary as the shells would: snapshots and
    /// catch-ups are served from the primary's store and log, acknowledgements reach the
    /// primary. Returns what the primary released or abandoned.
    @discardableResult
    private func carry(_ directives: [UnitStore.Directive], backup: inout UnitStore, named name: String = "b",
                       primary: inout UnitStore, now: UInt64) -> [UnitStore.Directive] {
        var released: [UnitStore.Directive] = []
        for directive in directives {
            guard case .toPrimary(_, let request) = directive else { continue }
            switch request {
            case .acknowledge(let partition, let epoch, let sequence):
                released += primary.onAcknowledge(backup: name, partition: partition, epoch: epoch, sequence: sequence, now: now)
            case .requestSnapshot(let partition, let epoch):
                guard let led = primary.led(partition), led.store.epoch == epoch else { continue }
                let entries = led.store.entries.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { ($0.key, $0.value) }
                let answer = backup.onSnapshotChunk(partition: partition, epoch: epoch, sequence: led.store.sequence, entries: entries,
                                                    first: true, last: true, now: now)
                released += carry(answer, backup: &backup, named: name, primary: &primary, now: now)
            case .requestCatchUp(let partition, let epoch, let from):
                guard let led = primary.led(partition), led.store.epoch == epoch, let changes = led.log.changes(from: from) else { continue }
                released += carry(backup.onChanges(changes, now: now), backup: &backup, named: name, primary: &primary, now: now)
            }
        }
        return released
    }

    /// What the primary's PUB would deliver: its logged changes from `from` on.
    private func publish(_ primary: UnitStore, _ partition: Int, from: UInt64) -> [Change] {
        primary.led(partition)?.log.changes(from: from) ?? []
    }

    /// A primary `p` and a backup `b` of partition 0 at epoch 1, the backup in sync.
    private func pair(now: UInt64 = 0) -> (primary: UnitStore, backup: UnitStore) {
        var primary = UnitStore()
        var backup = UnitStore()
        XCTAssertEqual(primary.onAssign([primaryLease(0, epoch: 1)], now: now), [])
        let follow = backup.onAssign([backupLease(0, epoch: 1)], now: now)
        XCTAssertEqual(follow, [.follow(primary: "p", partition: 0), .toPrimary(primary: "p", .requestSnapshot(partition: 0, epoch: 1))])
        carry(follow, backup: &backup, primary: &primary, now: now)
        XCTAssertEqual(follower(backup, 0)?.isFollowing, true)
        return (primary, backup)
    }

    // MARK: - Assignments

    func testAssignCreatesEmptyPartitionsAtTheLeaseEpoch() {
        var store = UnitStore()
        let directives = store.onAssign([
            primaryLease(1, epoch: 4), primaryLease(2, epoch: 1, backups: []), backupLease(3, epoch: 2, primary: "q"),
        ], now: 0)
        XCTAssertEqual(directives, [.follow(primary: "q", partition: 3), .toPrimary(primary: "q", .requestSnapshot(partition: 3, epoch: 2))])
        XCTAssertEqual(store.held.keys.sorted(), [1, 2, 3])
        XCTAssertEqual(store.led(1)?.store.epoch, 4)
        XCTAssertEqual(store.led(1)?.store.sequence, 0)
        XCTAssertEqual(store.led(1)?.backups, ["b"])
        XCTAssertNil(store.led(3), "a backup is not led here")
        XCTAssertEqual(follower(store, 3)?.epoch, 2)
        XCTAssertEqual(store.assignments[3], backupLease(3, epoch: 2, primary: "q"))
        XCTAssertEqual(store.primaryCount, 2)
        XCTAssertEqual(store.entryCount, 0)
        XCTAssertEqual(store.holdings, [
            Holding(partition: 1, role: .primary, epoch: 4, sequence: 0, inSync: true),
            Holding(partition: 2, role: .primary, epoch: 1, sequence: 0, inSync: true),
            Holding(partition: 3, role: .backup, epoch: 2, sequence: 0, inSync: false),
        ])
    }

    func testTheSameAssignmentAgainChangesNothing() {
        var (primary, backup) = pair()
        _ = put(&primary, Route(partition: 0, epoch: 1), "k", "v", sync: false)
        XCTAssertEqual(primary.onAssign([primaryLease(0, epoch: 1)], now: 5), [])
        XCTAssertEqual(backup.onAssign([backupLease(0, epoch: 1)], now: 5), [], "same primary, same epoch: keep following")
        XCTAssertEqual(follower(backup, 0)?.isFollowing, true)
        XCTAssertEqual(primary.led(0)?.store.sequence, 1)
        XCTAssertEqual(primary.led(0)?.log.newest, 1, "the log is kept")
    }

    func testAnEmptyAssignmentDropsEverything() {
        var (primary, backup) = pair()
        XCTAssertEqual(primary.onAssign([], now: 1), [])
        XCTAssertEqual(backup.onAssign([], now: 1), [])
        XCTAssertTrue(primary.held.isEmpty)
        XCTAssertTrue(backup.held.isEmpty)
        XCTAssertTrue(primary.assignments.isEmpty)
        XCTAssertEqual(primary.holdings, [])
    }

    func testABackupWhosePrimaryOrEpochChangedResyncsFromTheNewPrimary() {
        var (primary, backup) = pair()
        for index in 0..<3 { _ = put(&primary, Route(partition: 0, epoch: 1), "k\(index)", "v", sync: false) }
        carry(backup.onChanges(publish(primary, 0, from: 1), now: 1), backup: &backup, primary: &primary, now: 1)
        XCTAssertEqual(follower(backup, 0)?.applied, 3)
        // Another unit leads now (p died, q was promoted): ask q for a snapshot, keeping the data meanwhile.
        XCTAssertEqual(backup.onAssign([backupLease(0, epoch: 2, primary: "q")], now: 2),
                       [.follow(primary: "q", partition: 0), .toPrimary(primary: "q", .requestSnapshot(partition: 0, epoch: 2))])
        XCTAssertEqual(follower(backup, 0)?.isFollowing, false)
        XCTAssertEqual(follower(backup, 0)?.data.count, 3)
        XCTAssertEqual(backup.holdings, [Holding(partition: 0, role: .backup, epoch: 2, sequence: 3, inSync: false)])
    }

    // MARK: - Requests

    func testARequestUnderTheLeaseEpochIsServed() {
        var store = UnitStore()
        _ = store.onAssign([primaryLease(1, epoch: 4, backups: [])], now: 0)
        let served = put(&store, Route(partition: 1, epoch: 4), "k", "v", now: 7)
        XCTAssertEqual(served.outcome.status, .ok)
        XCTAssertEqual(served.outcome.change?.epoch, 4)
        XCTAssertEqual(served.outcome.change?.partition, 1)
        XCTAssertNil(served.heldToken, "no backups: nothing to wait for")
        XCTAssertEqual(store.led(1)?.store.get(bytes("k"))?.value, bytes("v"))
        XCTAssertEqual(store.led(1)?.log.changes(from: 1), [served.outcome.change!], "logged for replication")
        XCTAssertEqual(store.led(1)?.log.time(of: 1), 7)
        XCTAssertEqual(store.entryCount, 1)
        let missing = store.handle(route: Route(partition: 1, epoch: 4), operation: .get, key: bytes("missing"), arguments: [], sync: true, now: 8)
        XCTAssertEqual(missing.outcome.status, .notFound, "operation errors pass through under a valid lease")
        XCTAssertEqual(store.fencedRequests, 0)
    }

    func testRequestsAreFencedByEpochRoleAndPartition() {
        var store = UnitStore()
        _ = store.onAssign([primaryLease(1, epoch: 4, backups: []), backupLease(2, epoch: 7, primary: "q")], now: 0)
        _ = put(&store, Route(partition: 1, epoch: 4), "k", "v")
        let before = store.led(1)!.store

        assertFenced(put(&store, Route(partition: 1, epoch: 3), "k", "older").outcome, holding: "epoch 4")
        assertFenced(put(&store, Route(partition: 1, epoch: 5), "k", "newer").outcome, holding: "epoch 4")
        assertFenced(put(&store, Route(partition: 2, epoch: 7), "k", "backup").outcome, holding: "epoch 7")
        assertFenced(put(&store, Route(partition: 9, epoch: 1), "k", "unknown").outcome, holding: "no lease")
        assertFenced(store.handle(route: Route(partition: 1, epoch: 3), operation: .get, key: bytes("k"), arguments: [], sync: true, now: 0).outcome,
                     holding: "epoch 4")
        XCTAssertEqual(store.fencedRequests, 5)
        XCTAssertNil(put(&store, Route(partition: 1, epoch: 3), "k", "older").heldToken)

        XCTAssertEqual(store.led(1)?.store.sequence, before.sequence, "nothing changed")
        XCTAssertEqual(store.led(1)?.store.entries, before.entries)
        XCTAssertEqual(store.led(1)?.log.newest, 1, "nothing logged")
        XCTAssertEqual(follower(store, 2)?.data.count, 0)
        XCTAssertNil(store.held[9])
    }

    // MARK: - Sync and async

    func testSyncHoldsTheReplyUntilTheBackupAcknowledges() {
        var (primary, backup) = pair()
        let route = Route(partition: 0, epoch: 1)
        let served = put(&primary, route, "k", "v1", now: 10)
        XCTAssertEqual(served.outcome.status, .ok)
        let token = try! XCTUnwrap(served.heldToken, "the backup is in sync: the reply waits for it")
        XCTAssertEqual(primary.led(0)?.acks.waitingCount, 1)
        // An old acknowledgement releases nothing; one from another epoch or another unit neither.
        XCTAssertEqual(primary.onAcknowledge(backup: "b", partition: 0, epoch: 1, sequence: 0, now: 11), [])
        XCTAssertEqual(primary.onAcknowledge(backup: "b", partition: 0, epoch: 2, sequence: 1, now: 11), [])
        XCTAssertEqual(primary.onAcknowledge(backup: "x", partition: 0, epoch: 1, sequence: 1, now: 11), [])
        XCTAssertEqual(primary.onAcknowledge(backup: "b", partition: 5, epoch: 1, sequence: 1, now: 11), [])
        // The change reaches the backup (PUB); its acknowledgement releases the reply.
        let answer = backup.onChanges(publish(primary, 0, from: 1), now: 12)
        XCTAssertEqual(answer, [.toPrimary(primary: "p", .acknowledge(partition: 0, epoch: 1, sequence: 1))])
        XCTAssertEqual(carry(answer, backup: &backup, primary: &primary, now: 12), [.release(token: token)])
        XCTAssertEqual(primary.led(0)?.acks.waitingCount, 0)
        XCTAssertEqual(follower(backup, 0)?.data.entries, primary.led(0)?.store.entries)

        // Reads and failed writes change nothing: they never wait.
        XCTAssertNil(primary.handle(route: route, operation: .get, key: bytes("k"), arguments: [], sync: true, now: 13).heldToken)
        XCTAssertNil(primary.handle(route: route, operation: .del, key: bytes("none"), arguments: [], sync: true, now: 13).heldToken)
        XCTAssertNil(primary.handle(route: route, operation: .cas, key: bytes("k"), arguments: [bytes("9"), bytes("x")], sync: true, now: 13).heldToken)

        // Tokens are distinct and released in order.
        let second = try! XCTUnwrap(put(&primary, route, "k", "v2", now: 14).heldToken)
        let third = try! XCTUnwrap(put(&primary, route, "j", "v3", now: 14).heldToken)
        XCTAssertNotEqual(second, third)
        XCTAssertNotEqual(second, token)
        let acks = backup.onChanges(publish(primary, 0, from: 2), now: 15)
        XCTAssertEqual(acks, [.toPrimary(primary: "p", .acknowledge(partition: 0, epoch: 1, sequence: 3))], "one acknowledgement for the batch")
        XCTAssertEqual(carry(acks, backup: &backup, primary: &primary, now: 15), [.release(token: second), .release(token: third)])
    }

    func testABackupStillCatchingUpDoesNotHoldWrites() {
        var primary = UnitStore()
        var backup = UnitStore()
        _ = primary.onAssign([primaryLease(0, epoch: 1)], now: 0)
        let follow = backup.onAssign([backupLease(0, epoch: 1)], now: 0)
        // The snapshot request has not been served yet.
        let first = put(&primary, Route(partition: 0, epoch: 1), "k", "v", now: 1)
        XCTAssertNil(first.heldToken, "a backup without its snapshot cannot hold writes")
        carry(follow, backup: &backup, primary: &primary, now: 2)
        XCTAssertEqual(follower(backup, 0)?.applied, 1, "the snapshot included the write")
        XCTAssertNotNil(put(&primary, Route(partition: 0, epoch: 1), "k", "w", now: 3).heldToken, "in sync now: writes wait")
    }

    func testAsyncNeverHolds() {
        var (primary, backup) = pair()
        for index in 0..<20 {
            let served = put(&primary, Route(partition: 0, epoch: 1), "k\(index % 3)", "v\(index)", sync: false, now: UInt64(index))
            XCTAssertEqual(served.outcome.status, .ok)
            XCTAssertNil(served.heldToken)
        }
        XCTAssertEqual(primary.led(0)?.acks.waitingCount, 0)
        XCTAssertEqual(primary.lag(of: 0, now: 30)?.behind, 20, "the backup has acknowledged nothing of it yet")
        XCTAssertEqual(primary.lag(of: 0, now: 30)?.oldestUnacknowledgedMilliseconds, 30, "sequence 1 was written at 0")
        // The flush (every replication interval) brings the backup up to date; acknowledgements release nothing.
        XCTAssertEqual(carry(backup.onChanges(publish(primary, 0, from: 1), now: 40), backup: &backup, primary: &primary, now: 40), [])
        XCTAssertEqual(follower(backup, 0)?.data.entries, primary.led(0)?.store.entries)
        XCTAssertEqual(primary.lag(of: 0, now: 50)?.behind, 0)
        XCTAssertEqual(primary.lag(of: 0, now: 50)?.oldestUnacknowledgedMilliseconds, 0)
    }

    func testLagIsOnlyForLedPartitionsWithBackups() {
        var store = UnitStore()
        _ = store.onAssign([primaryLease(0, epoch: 1, backups: []), backupLease(1, epoch: 1, primary: "q")], now: 0)
        XCTAssertNil(store.lag(of: 0, now: 10))
        XCTAssertNil(store.lag(of: 1, now: 10))
        XCTAssertNil(store.lag(of: 2, now: 10))
    }

    // MARK: - Promotion and demotion

    func testPromotionKeepsEveryEntryAndContinuesTheSequence() {
        var (primary, backup) = pair()
        let route = Route(partition: 0, epoch: 1)
        for index in 0..<10 {
            _ = put(&primary, route, "k\(index % 4)", "v\(index)", now: UInt64(index))
            if index % 3 == 2 { _ = primary.handle(route: route, operation: .del, key: bytes("k\(index % 4)"), arguments: [], sync: true, now: 0) }
        }
        carry(backup.onChanges(publish(primary, 0, from: 1), now: 20), backup: &backup, primary: &primary, now: 20)
        let sequence = primary.led(0)!.store.sequence
        let entries = primary.led(0)!.store.entries
        XCTAssertEqual(follower(backup, 0)?.applied, sequence)

        // p dies; b is promoted under epoch 2, with a new backup c.
        XCTAssertEqual(backup.onAssign([primaryLease(0, epoch: 2, unit: "b", backups: ["c"])], now: 30), [])
        XCTAssertEqual(backup.led(0)?.store.entries, entries, "every entry kept")
        XCTAssertEqual(backup.led(0)?.store.sequence, sequence)
        XCTAssertEqual(backup.led(0)?.store.epoch, 2)
        XCTAssertEqual(backup.led(0)?.backups, ["c"])
        XCTAssertEqual(backup.holdings, [Holding(partition: 0, role: .primary, epoch: 2, sequence: sequence, inSync: true)])
        XCTAssertNil(put(&backup, Route(partition: 0, epoch: 2), "k", "v", now: 31).heldToken, "c is still catching up")
        let next = put(&backup, Route(partition: 0, epoch: 2), "after", "failover", now: 32)
        XCTAssertEqual(next.outcome.change?.sequence, sequence + 2, "sequences continue: versions are never reused")
        XCTAssertEqual(next.outcome.change?.epoch, 2)
        assertFenced(put(&backup, route, "k", "old epoch").outcome, holding: "epoch 2")
        // The new log starts after the promotion: older changes need a snapshot.
        XCTAssertNil(backup.led(0)?.log.changes(from: sequence))
        XCTAssertEqual(backup.led(0)?.log.changes(from: sequence + 1)?.count, 2)
    }

    func testDemotionAbandonsHeldRepliesAndResyncs() {
        var (primary, _) = pair()
        let route = Route(partition: 0, epoch: 1)
        let first = try! XCTUnwrap(put(&primary, route, "k", "v1").heldToken)
        let second = try! XCTUnwrap(put(&primary, route, "k", "v2").heldToken)
        // The broker declared p dead (it was paused) and promoted b: p comes back as b's backup.
        let directives = primary.onAssign([backupLease(0, epoch: 2, primary: "b", backups: ["p"])], now: 5)
        XCTAssertEqual(directives, [
            .abandon(token: first), .abandon(token: second),
            .follow(primary: "b", partition: 0), .toPrimary(primary: "b", .requestSnapshot(partition: 0, epoch: 2)),
        ])
        XCTAssertNil(primary.led(0))
        XCTAssertEqual(primary.primaryCount, 0)
        XCTAssertEqual(primary.entryCount, 1, "the data stays until the new primary's snapshot replaces it")
        XCTAssertEqual(primary.holdings, [Holding(partition: 0, role: .backup, epoch: 2, sequence: 2, inSync: false)])
        assertFenced(put(&primary, route, "k", "under the old epoch").outcome, holding: "epoch 2")
        assertFenced(put(&primary, Route(partition: 0, epoch: 2), "k", "as a backup").outcome, holding: "epoch 2")
        XCTAssertEqual(primary.fencedRequests, 2)
    }

    func testLosingAPartitionAbandonsItsHeldReplies() {
        var (primary, _) = pair()
        let token = try! XCTUnwrap(put(&primary, Route(partition: 0, epoch: 1), "k", "v").heldToken)
        XCTAssertEqual(primary.onAssign([primaryLease(1, epoch: 1, backups: [])], now: 1), [.abandon(token: token)])
        XCTAssertNil(primary.held[0])
    }

    func testABackupRemovedFromTheAssignmentReleasesWhatItHeld() {
        var (primary, _) = pair()
        let token = try! XCTUnwrap(put(&primary, Route(partition: 0, epoch: 1), "k", "v").heldToken)
        // b died: the broker's new assignment for p lists no backup.
        XCTAssertEqual(primary.onAssign([primaryLease(0, epoch: 1, backups: [])], now: 1), [.release(token: token)])
        XCTAssertNil(put(&primary, Route(partition: 0, epoch: 1), "k", "w").heldToken)
    }

    // MARK: - Fencing of replication

    func testChangesUnderAnOldEpochAreRefusedAndCounted() {
        var (primary, backup) = pair()
        _ = put(&primary, Route(partition: 0, epoch: 1), "k", "v", sync: false)
        let fromOldPrimary = publish(primary, 0, from: 1)
        // b is re-assigned under epoch 2 (another primary) and has installed its snapshot.
        var fresh = UnitStore()
        _ = fresh.onAssign([primaryLease(0, epoch: 2, unit: "q")], now: 0)
        let follow = backup.onAssign([backupLease(0, epoch: 2, primary: "q")], now: 1)
        carry(follow, backup: &backup, primary: &fresh, now: 1)
        XCTAssertEqual(follower(backup, 0)?.isFollowing, true)
        XCTAssertEqual(backup.onChanges(fromOldPrimary, now: 2), [], "a deposed primary's change is refused")
        XCTAssertEqual(backup.fencedRequests, 1)
        XCTAssertEqual(follower(backup, 0)?.staleRefused, 1)
        XCTAssertEqual(follower(backup, 0)?.data.count, 0)
        // A primary receiving an old epoch's changes for its own partition counts them too.
        XCTAssertEqual(fresh.onChanges(fromOldPrimary, now: 3), [])
        XCTAssertEqual(fresh.fencedRequests, 1)
        // Changes for a partition not held at all are ignored, uncounted.
        var other = fromOldPrimary[0]
        other.partition = 7
        XCTAssertEqual(backup.onChanges([other], now: 4), [])
        XCTAssertEqual(backup.fencedRequests, 1)
        XCTAssertEqual(backup.onChanges([], now: 4), [])
    }

    // MARK: - Time

    func testAStalledBackupGetsTheChangesItMissedResent() {
        var (primary, backup) = pair(now: 100)
        let route = Route(partition: 0, epoch: 1)
        let first = try! XCTUnwrap(put(&primary, route, "a", "1", now: 200).heldToken)
        let second = try! XCTUnwrap(put(&primary, route, "b", "2", now: 210).heldToken)
        // The PUB dropped both; b said nothing since the first of them was applied at 200.
        XCTAssertEqual(primary.onTick(now: 399, resendAfterMilliseconds: 200), [])
        let resend = primary.onTick(now: 400, resendAfterMilliseconds: 200)
        XCTAssertEqual(resend, [.resend(backup: "b", changes: publish(primary, 0, from: 1))])
        XCTAssertEqual(primary.onTick(now: 401, resendAfterMilliseconds: 200), [], "once per quiet period")
        guard case .resend(_, let changes)? = resend.first else { return XCTFail("no resend") }
        XCTAssertEqual(changes.map(\.sequence), [1, 2])
        let acks = backup.onChanges(changes, now: 305)
        XCTAssertEqual(carry(acks, backup: &backup, primary: &primary, now: 305), [.release(token: first), .release(token: second)])
        XCTAssertEqual(primary.onTick(now: 10_000, resendAfterMilliseconds: 200), [], "nothing missing any more")
        XCTAssertEqual(backup.onTick(now: 10_000, resendAfterMilliseconds: 200), [], "the backup has nothing to ask")
    }

    func testAnUnansweredSnapshotRequestIsRepeatedOnTheTimer() {
        var backup = UnitStore()
        _ = backup.onAssign([backupLease(4, epoch: 3, primary: "q")], now: 1_000)
        XCTAssertEqual(backup.onTick(now: 1_999, resendAfterMilliseconds: 100), [])
        XCTAssertEqual(backup.onTick(now: 2_000, resendAfterMilliseconds: 100),
                       [.toPrimary(primary: "q", .requestSnapshot(partition: 4, epoch: 3))])
    }

    func testSnapshotChunksForPartitionsNotBackedUpAreIgnored() {
        var store = UnitStore()
        _ = store.onAssign([primaryLease(0, epoch: 1, backups: [])], now: 0)
        XCTAssertEqual(store.onSnapshotChunk(partition: 0, epoch: 1, sequence: 5, entries: [(bytes("x"), Entry(value: [], version: 5))],
                                             first: true, last: true, now: 1), [])
        XCTAssertEqual(store.onSnapshotChunk(partition: 3, epoch: 1, sequence: 5, entries: [], first: true, last: true, now: 1), [])
        XCTAssertEqual(store.led(0)?.store.count, 0)
    }

    // MARK: - Randomized

    func testSyncRepliesAreReleasedOnlyOnceTheBackupHoldsTheWrite() {
        var random = SplitMix64(seed: 0x5_1DE)
        for round in 0..<10 {
            var (primary, backup) = pair()
            let route = Route(partition: 0, epoch: 1)
            var now: UInt64 = 0
            var pending: [Int: UInt64] = [:]  // token -> sequence
            var released = 0
            func check(_ directives: [UnitStore.Directive], _ context: String) {
                for directive in directives {
                    guard case .release(let token) = directive else { return XCTFail("\(context): \(directive)") }
                    let sequence = pending.removeValue(forKey: token)
                    XCTAssertNotNil(sequence, "\(context): token \(token) released twice or never held")
                    // The guarantee of sync mode: an acknowledged write is on the backup.
                    XCTAssertGreaterThanOrEqual(follower(backup, 0)?.applied ?? 0, sequence ?? .max, context)
                    released += 1
                }
            }
            for step in 0..<300 {
                now += UInt64(random.below(30))
                let key = "k\(random.below(8))"
                let served: UnitStore.Served
                switch random.below(4) {
                case 0: served = primary.handle(route: route, operation: .del, key: bytes(key), arguments: [], sync: true, now: now)
                case 1:
                    let version = primary.led(0)?.store.get(bytes(key))?.version ?? 0
                    served = primary.handle(route: route, operation: .cas, key: bytes(key), arguments: [bytes("\(version)"), bytes("c\(step)")],
                                            sync: true, now: now)
                default: served = put(&primary, route, key, "v\(step)", now: now)
                }
                if let token = served.heldToken, let change = served.outcome.change { pending[token] = change.sequence }
                // The PUB delivers this change most of the time; sometimes it drops it.
                if let change = served.outcome.change, random.below(5) != 0 {
                    check(carry(backup.onChanges([change], now: now), backup: &backup, primary: &primary, now: now), "round \(round) step \(step)")
                }
                // Timers: the backup asks for what it misses, the primary resends to a quiet backup.
                if random.below(10) == 0 {
                    now += 1_000
                    check(carry(backup.onTick(now: now, resendAfterMilliseconds: 100), backup: &backup, primary: &primary, now: now), "round \(round) backup tick")
                    for directive in primary.onTick(now: now, resendAfterMilliseconds: 100) {
                        guard case .resend("b", let changes) = directive else { XCTFail("\(directive)"); continue }
                        check(carry(backup.onChanges(changes, now: now), backup: &backup, primary: &primary, now: now), "round \(round) resend")
                    }
                }
            }
            // Drain: timers until every reply is out.
            var turns = 0
            while !pending.isEmpty && turns < 10 {
                turns += 1
                now += 1_000
                check(carry(backup.onTick(now: now, resendAfterMilliseconds: 100), backup: &backup, primary: &primary, now: now), "round \(round) drain")
                for directive in primary.onTick(now: now, resendAfterMilliseconds: 100) {
                    guard case .resend(_, let changes) = directive else { continue }
                    check(carry(backup.onChanges(changes, now: now), backup: &backup, primary: &primary, now: now), "round \(round) drain resend")
                }
            }
            XCTAssertEqual(pending.count, 0, "round \(round): replies never released")
            XCTAssertGreaterThan(released, 100, "round \(round)")
            XCTAssertEqual(follower(backup, 0)?.data.entries, primary.led(0)?.store.entries, "round \(round)")
            XCTAssertEqual(primary.led(0)?.acks.waitingCount, 0)
        }
    }
}

final class UnitStoreLagTests: XCTestCase {
    func testLagAgeCountsChangesThatLeftTheLog() {
        var primary = UnitStore(logCapacity: 4)
        _ = primary.onAssign([Assignment(lease: Lease(partition: 0, epoch: 1, role: .primary), primary: "p", backups: ["b"])], now: 0)
        _ = primary.onAcknowledge(backup: "b", partition: 0, epoch: 1, sequence: 0, now: 0)
        for index in 1...10 {
            _ = primary.handle(route: Route(partition: 0, epoch: 1), operation: .put, key: Array("k\(index)".utf8), arguments: [[1]], sync: false, now: UInt64(index) * 100)
        }
        let lag = primary.lag(of: 0, now: 2_000)
        XCTAssertEqual(lag?.behind, 10)
        XCTAssertGreaterThanOrEqual(lag?.oldestUnacknowledgedMilliseconds ?? 0, 1_300)
    }

    // MARK: - Cold start

    func testALoadIsInstalledOnlyIntoAnUntouchedLedPartition() {
        var store = UnitStore()
        _ = store.onAssign([Assignment(lease: Lease(partition: 0, epoch: 1, role: .primary), primary: "u1", backups: []),
                            Assignment(lease: Lease(partition: 1, epoch: 1, role: .primary), primary: "u1", backups: [])], now: 0)
        let loaded: EntryTable = [Array("a".utf8): Entry(value: Array("1".utf8), version: 4)]
        XCTAssertTrue(store.installLoaded(partition: 0, entries: loaded, sequence: 9))
        XCTAssertEqual(store.led(0)?.store.sequence, 9)
        XCTAssertEqual(store.led(0)?.store.count, 1)
        // The next write continues after the stored sequence: versions are never reused.
        let written = store.write(partition: 0, key: Array("b".utf8), .put(Array("2".utf8)), sync: false, now: 1)
        XCTAssertEqual(written.change?.sequence, 10)
        // Refused once written to, and for a partition not led here.
        XCTAssertFalse(store.installLoaded(partition: 0, entries: [:], sequence: 20))
        _ = store.write(partition: 1, key: Array("c".utf8), .put(Array("3".utf8)), sync: false, now: 1)
        XCTAssertFalse(store.installLoaded(partition: 1, entries: loaded, sequence: 9))
        XCTAssertFalse(store.installLoaded(partition: 7, entries: loaded, sequence: 9))
    }

    func testReplayNeedsASnapshotWhenTheLogStartsAfterThePartitionsHistory() {
        var store = UnitStore()
        _ = store.onAssign([Assignment(lease: Lease(partition: 0, epoch: 1, role: .primary), primary: "u1", backups: [])], now: 0)
        XCTAssertTrue(store.installLoaded(partition: 0, entries: [Array("a".utf8): Entry(value: [1], version: 9)], sequence: 9))
        XCTAssertEqual(store.led(0)?.replay(from: 10), [], "nothing after the newest")
        XCTAssertNil(store.led(0)?.replay(from: 3), "the loaded history is not in the log")
        _ = store.write(partition: 0, key: Array("b".utf8), .put([2]), sync: false, now: 1)
        XCTAssertEqual(store.led(0)?.replay(from: 10)?.map(\.sequence), [10])
        XCTAssertNil(store.led(0)?.replay(from: 9), "9 came from the database, not the log")
    }
}
