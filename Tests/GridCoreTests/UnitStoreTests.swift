import GridCore
import XCTest

/// A unit's partitions end to end without sockets: primary and backup stores wired by
/// hand (snapshots, catch-ups, acknowledgements and confirmations), as the unit shells do
/// over PUB/SUB and ROUTER/DEALER. Covers leases (F1.3), the one definition of in sync
/// (F1.2), exactly-once requests (F2.1, F2.2) and reads that never see what a failover
/// could take back.
final class UnitStoreTests: XCTestCase {
    // MARK: - Helpers

    private let lease: UInt64 = 1_000_000

    private func primaryLease(_ partition: Int, epoch: UInt64, unit: String = "p", backups: [String] = ["b"], inSync: [String] = [],
                              load: UInt64? = nil) -> Assignment {
        Assignment(lease: Lease(partition: partition, epoch: epoch, role: .primary), primary: unit, backups: backups, inSync: inSync,
                   incarnations: Dictionary(uniqueKeysWithValues: backups.map { ($0, 1) }), load: load)
    }

    private func backupLease(_ partition: Int, epoch: UInt64, primary: String = "p", backups: [String] = ["b"]) -> Assignment {
        Assignment(lease: Lease(partition: partition, epoch: epoch, role: .backup), primary: primary, backups: backups)
    }

    /// A unit with a lease valid for the whole test.
    private func unit(incarnation: UInt64 = 100) -> UnitStore {
        var store = UnitStore(incarnation: incarnation)
        _ = store.renewLease(until: lease, now: 0)
        return store
    }

    private func put(_ store: inout UnitStore, _ route: Route, _ key: String, _ value: String, request: RequestID? = nil, sync: Bool = true,
                     now: UInt64 = 0) -> UnitStore.Served {
        store.handle(route: route, operation: .put, key: bytes(key), arguments: [bytes(value)], request: request, sync: sync, now: now)
    }

    private func get(_ store: inout UnitStore, _ route: Route, _ key: String, now: UInt64 = 0) -> UnitStore.Served {
        store.handle(route: route, operation: .get, key: bytes(key), arguments: [], sync: true, now: now)
    }

    private func follower(_ store: UnitStore, _ partition: Int) -> ReplicaFollower? { store.followed[partition]?.follower }

    /// Carries a backup's directives to its primary as the shells would: snapshots and
    /// catch-ups are served from the primary's store and log (a catch-up only when the
    /// backup's data continues the primary's history), acknowledgements reach the primary,
    /// and its confirmations come back. Returns what the primary released or abandoned.
    @discardableResult
    private func carry(_ directives: [UnitStore.Directive], backup: inout UnitStore, named name: String = "b",
                       primary: inout UnitStore, now: UInt64) -> [UnitStore.Directive] {
        var released: [UnitStore.Directive] = []
        for directive in directives {
            switch directive {
            case .toPrimary(_, .acknowledge(let partition, let epoch, let sequence, let follow)):
                for answer in primary.onAcknowledge(backup: name, partition: partition, epoch: epoch, sequence: sequence, follow: follow, now: now) {
                    if case .confirmInSync(name, let partition, let epoch, let follow) = answer {
                        backup.onInSync(partition: partition, epoch: epoch, follow: follow)
                    } else {
                        released.append(answer)
                    }
                }
            case .toPrimary(_, .requestSnapshot(let partition, let epoch, let follow)):
                confirm(primary.onFollowerRequest(backup: name, partition: partition, epoch: epoch, follow: follow, now: now), to: &backup, name: name)
                guard let led = primary.led(partition), led.store.epoch == epoch else { continue }
                released += carry(snapshot(led, to: &backup, partition: partition, now: now), backup: &backup, named: name, primary: &primary, now: now)
            case .toPrimary(_, .requestCatchUp(let partition, let epoch, let from, let dataEpoch, let follow)):
                confirm(primary.onFollowerRequest(backup: name, partition: partition, epoch: epoch, follow: follow, now: now), to: &backup, name: name)
                guard let led = primary.led(partition), led.store.epoch == epoch else { continue }
                let answer: [UnitStore.Directive]
                if let changes = led.catchUp(from: from, dataEpoch: dataEpoch) {
                    answer = changes.isEmpty ? backup.onEmptyCatchUp(partition: partition, carrier: epoch, now: now)
                                             : backup.onChanges(changes, carrier: epoch, answered: true, now: now)
                } else {
                    answer = snapshot(led, to: &backup, partition: partition, now: now)
                }
                released += carry(answer, backup: &backup, named: name, primary: &primary, now: now)
            default:
                released.append(directive)
            }
        }
        return released
    }

    private func confirm(_ directives: [UnitStore.Directive], to backup: inout UnitStore, name: String) {
        for case .confirmInSync(name, let partition, let epoch, let follow) in directives {
            backup.onInSync(partition: partition, epoch: epoch, follow: follow)
        }
    }

    private func snapshot(_ led: UnitStore.Led, to backup: inout UnitStore, partition: Int, now: UInt64) -> [UnitStore.Directive] {
        let entries = led.store.entries.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { ($0.key, $0.value) }
        return backup.onSnapshotChunk(partition: partition, epoch: led.store.epoch, sequence: led.store.sequence, lastEpoch: led.store.lastEpoch,
                                      entries: entries, requests: led.store.requests, first: true, last: true, now: now)
    }

    /// What the primary's PUB would deliver: its logged changes from `from` on.
    private func publish(_ primary: UnitStore, _ partition: Int, from: UInt64) -> [Change] {
        primary.led(partition)?.log.changes(from: from) ?? []
    }

    /// A primary `p` and a backup `b` of partition 0 at epoch 1, the backup in sync.
    private func pair(now: UInt64 = 0) -> (primary: UnitStore, backup: UnitStore) {
        var primary = unit(incarnation: 100)
        var backup = unit(incarnation: 200)
        XCTAssertEqual(primary.onAssign([primaryLease(0, epoch: 1)], now: now), [])
        let follow = backup.onAssign([backupLease(0, epoch: 1)], now: now)
        XCTAssertEqual(follow, [.toPrimary(primary: "p", .requestSnapshot(partition: 0, epoch: 1, follow: 200))])
        carry(follow, backup: &backup, primary: &primary, now: now)
        XCTAssertEqual(follower(backup, 0)?.isFollowing, true)
        XCTAssertEqual(primary.led(0)?.acks.inSyncNames, ["b"])
        XCTAssertEqual(follower(backup, 0)?.confirmed, true, "the primary confirmed it")
        return (primary, backup)
    }

    // MARK: - Assignments and loads

    func testAFreshLeaseLoadsFromTheDatabaseBeforeServing() {
        var store = unit()
        let directives = store.onAssign([primaryLease(3, epoch: 5, backups: [], load: 40)], now: 0)
        XCTAssertEqual(directives, [.load(partition: 3)])
        XCTAssertEqual(store.loadingPartitions, [3])
        XCTAssertEqual(store.holdings, [], "nothing to report while it loads")
        XCTAssertTrue(store.installLoaded(partition: 3, entries: [bytes("k"): Entry(value: bytes("v"), version: 7)], sequence: 12, now: 1).installed)
        XCTAssertEqual(store.led(3)?.store.sequence, 40, "never below the lease's floor")
        XCTAssertEqual(store.led(3)?.store.get(bytes("k"))?.value, bytes("v"))
        XCTAssertEqual(store.led(3)?.store.lastEpoch, 5, "the loaded state is this lease's")
        XCTAssertEqual(store.loadingPartitions, [])
        XCTAssertFalse(store.installLoaded(partition: 3, entries: [:], sequence: 0, now: 2).installed, "once")
        guard case .answer(let outcome, _) = put(&store, Route(partition: 3, epoch: 5), "k", "w") else { return XCTFail() }
        XCTAssertEqual(outcome.version, 41)
    }

    func testTheSameAssignmentAgainChangesNothing() {
        var (primary, backup) = pair()
        XCTAssertEqual(primary.onAssign([primaryLease(0, epoch: 1)], now: 5), [])
        XCTAssertEqual(backup.onAssign([backupLease(0, epoch: 1)], now: 5), [])
        XCTAssertEqual(primary.led(0)?.acks.inSyncNames, ["b"])
    }

    /// F1.2: a unit that registers again announces its follower at the next assignment,
    /// so a primary that dropped and re-added it knows which follower acknowledges.
    func testARegisteredAgainBackupAnnouncesItsFollowerAndIsInSyncOnlyOnceThePrimarySaysSo() {
        var (primary, backup) = pair()
        XCTAssertEqual(backup.onRegistering(), [])
        XCTAssertEqual(follower(backup, 0)?.confirmed, false)
        // The primary had dropped it (declared dead) and now has it back, catching up.
        _ = primary.onAssign([primaryLease(0, epoch: 1, backups: [])], now: 10)
        _ = put(&primary, Route(partition: 0, epoch: 1), "k", "v", now: 11)  // acknowledged without b
        _ = primary.onAssign([primaryLease(0, epoch: 1)], now: 12)
        XCTAssertEqual(primary.led(0)?.acks.inSyncNames, [])
        let announce = backup.onAssign([backupLease(0, epoch: 1)], now: 13)
        XCTAssertEqual(announce, [.toPrimary(primary: "p", .requestCatchUp(partition: 0, epoch: 1, from: 1, dataEpoch: 0, follow: 200))])
        carry(announce, backup: &backup, primary: &primary, now: 14)
        XCTAssertEqual(primary.led(0)?.acks.inSyncNames, ["b"], "it caught up through what was released without it")
        XCTAssertEqual(follower(backup, 0)?.data.get(bytes("k"))?.value, bytes("v"))
        XCTAssertEqual(follower(backup, 0)?.confirmed, true)
    }

    /// A backup's snapshot request can overtake the assignment that names it at its primary
    /// (they come on different sockets): the primary keeps the follower id until the
    /// assignment arrives, so the backup's acknowledgements count and it gets in sync.
    func testAFollowerRequestBeforeTheAssignmentNamingItsBackupStillCounts() {
        var primary = unit(incarnation: 100)
        var backup = unit(incarnation: 200)
        _ = primary.onAssign([primaryLease(0, epoch: 1, backups: [])], now: 0)
        _ = put(&primary, Route(partition: 0, epoch: 1), "k", "v", now: 1)
        let follow = backup.onAssign([backupLease(0, epoch: 1)], now: 2)
        guard case .toPrimary(_, .requestSnapshot(0, 1, let id)) = follow.first else { return XCTFail("\(follow)") }
        XCTAssertEqual(primary.onFollowerRequest(backup: "b", partition: 0, epoch: 1, follow: id, now: 3), [], "before the assignment")
        _ = primary.onAssign([primaryLease(0, epoch: 1)], now: 4)
        let snapshot = snapshot(primary.led(0)!, to: &backup, partition: 0, now: 5)
        carry(snapshot, backup: &backup, primary: &primary, now: 5)
        XCTAssertEqual(primary.led(0)?.acks.inSyncNames, ["b"])
        XCTAssertEqual(follower(backup, 0)?.confirmed, true)
    }

    func testAnUnconfirmedFollowerRemindsItsPrimaryAndAConfirmedOneIsToldAgain() {
        var (primary, backup) = pair()
        _ = backup.onRegistering()   // forgets the confirmation
        _ = backup.renewLease(until: lease, now: 0)
        let reminder = backup.onTick(now: 10_000, resendAfterMilliseconds: 100)
        XCTAssertEqual(reminder, [.toPrimary(primary: "p", .requestCatchUp(partition: 0, epoch: 1, from: 1, dataEpoch: 0, follow: 200))])
        carry(reminder, backup: &backup, primary: &primary, now: 10_000)
        XCTAssertEqual(follower(backup, 0)?.confirmed, true)
        XCTAssertEqual(backup.onTick(now: 20_000, resendAfterMilliseconds: 100), [], "confirmed: no more reminders")
    }

    /// A backup dropped and added again while it was paused keeps its follower (same primary,
    /// same epoch) and is up to date: the primary knows it again only by an acknowledgement,
    /// which the answer to its reminder must bring even though nothing new is applied.
    func testAnUpToDateBackupAddedAgainGetsInSyncThroughItsReminder() {
        var (primary, backup) = pair()
        _ = primary.onAssign([primaryLease(0, epoch: 1, backups: [])], now: 1)
        _ = primary.onAssign([primaryLease(0, epoch: 1)], now: 2)   // added again: a new entry, no follower known
        _ = backup.onRegistering()
        _ = backup.renewLease(until: lease, now: 3)
        XCTAssertEqual(primary.led(0)?.acks.inSyncNames, [])
        carry(backup.onTick(now: 10_000, resendAfterMilliseconds: 100), backup: &backup, primary: &primary, now: 10_000)
        XCTAssertEqual(primary.led(0)?.acks.inSyncNames, ["b"])
    }

    func testAnEmptyAssignmentDropsEverything() {
        var (primary, backup) = pair()
        XCTAssertEqual(primary.onAssign([], now: 1), [])
        XCTAssertEqual(backup.onAssign([], now: 1), [])
        XCTAssertTrue(primary.led.isEmpty)
        XCTAssertTrue(backup.followed.isEmpty)
    }

    // MARK: - Serving, leases and fencing

    func testRequestsAreFencedByEpochRoleAndPartition() {
        var (primary, backup) = pair()
        XCTAssertEqual(put(&primary, Route(partition: 0, epoch: 2), "k", "v").outcome?.status, .misdirected)
        XCTAssertEqual(put(&primary, Route(partition: 1, epoch: 1), "k", "v").outcome?.status, .misdirected)
        XCTAssertEqual(put(&backup, Route(partition: 0, epoch: 1), "k", "v").outcome?.status, .misdirected, "a backup never serves")
        XCTAssertEqual(primary.fencedRequests, 2)
    }

    /// F1.3: a primary whose lease lapsed (paused, cut off) serves nothing, on any path, and
    /// releases no held reply, until the broker renews it.
    func testWithoutAValidLeaseNothingIsServedOrReleased() {
        var (primary, backup) = pair()
        let route = Route(partition: 0, epoch: 1)
        let served = put(&primary, route, "k", "v", now: 10)
        guard case .answer(_, let token?) = served else { return XCTFail("a sync write waits for its backup: \(served)") }
        XCTAssertEqual(put(&primary, route, "k", "late", now: lease), .waitForLease)
        XCTAssertEqual(get(&primary, route, "k", now: lease), .waitForLease)
        // The backup's acknowledgement arrives after the lease lapsed: the reply stays held.
        let released = carry(backup.onChanges(publish(primary, 0, from: 1), now: lease + 1), backup: &backup, primary: &primary, now: lease + 1)
        XCTAssertEqual(released, [])
        XCTAssertEqual(primary.renewLease(until: lease + 500, now: lease + 2), [.release(token: token)], "renewed: sent now")
        // Registering again drops every lease and answers what waits 421.
        let second = put(&primary, route, "k2", "v", now: lease + 3)
        guard case .answer(_, let held?) = second else { return XCTFail() }
        XCTAssertEqual(primary.onRegistering(), [.abandon(token: held)])
        XCTAssertFalse(primary.leaseValid(now: lease + 4))
    }

    /// F1.3 after a re-registration: the new broker's heartbeats renew the lease before it has
    /// placed anything; a partition held from before is only a claim (another broker may have
    /// moved it) and serves nothing until an assignment of this registration confirms it.
    func testAClaimFromBeforeRegisteringAgainServesOnlyOnceConfirmed() {
        var (primary, _) = pair()
        let route = Route(partition: 0, epoch: 1)
        _ = primary.onRegistering()
        _ = primary.renewLease(until: lease, now: 1)
        XCTAssertEqual(put(&primary, route, "k", "v", now: 2), .waitForLease)
        XCTAssertTrue(primary.commitsToPublish(all: true, now: 2).isEmpty, "a claim announces nothing")
        _ = primary.onAssign([primaryLease(0, epoch: 1)], now: 3)
        guard case .answer(let outcome, _) = put(&primary, route, "k", "v", now: 4) else { return XCTFail("confirmed: served") }
        XCTAssertEqual(outcome.status, .ok)
    }

    /// A primary moving its partition away (a handover) stops serving it at once, on every
    /// path, answers what waited for its backups 421, and keeps the partition as it is;
    /// should the move be given up it serves again under the newer epoch.
    func testAHandoverStopsServingAndKeepsThePartition() {
        var (primary, _) = pair()
        let route = Route(partition: 0, epoch: 1)
        guard case .answer(_, let held?) = put(&primary, route, "k", "v", now: 10) else { return XCTFail("a sync write waits for its backup") }
        var handingOver = primaryLease(0, epoch: 1)
        handingOver.handover = "b"
        XCTAssertEqual(primary.onAssign([handingOver], now: 11), [.abandon(token: held)], "what waited is answered 421")
        XCTAssertEqual(put(&primary, route, "k", "late", now: 12), .waitForLease)
        XCTAssertEqual(get(&primary, route, "k", now: 12), .waitForLease)
        XCTAssertFalse(primary.mayServe(0, now: 12), "no workflow step either")
        XCTAssertTrue(primary.commitsToPublish(all: true, now: 12).isEmpty)
        XCTAssertEqual(primary.holdings.first?.role, .primary, "it still holds the partition: a restarted broker finds it there")
        XCTAssertEqual(primary.led(0)?.store.sequence, 1)
        // The move is given up: served again under the newer epoch, with what it held.
        _ = primary.onAssign([primaryLease(0, epoch: 3)], now: 13)
        guard case .answer(let outcome, _) = get(&primary, Route(partition: 0, epoch: 3), "k", now: 14) else { return XCTFail("served again") }
        XCTAssertEqual(outcome.status, .ok)
    }

    /// A load that finishes between registering again and the confirming assignment does
    /// not confirm the claim: the partition stays suspended until the broker says so.
    func testALoadFinishingAfterRegisteringAgainStaysSuspended() {
        var store = unit()
        _ = store.onAssign([primaryLease(3, epoch: 5, backups: [], load: 40)], now: 0)
        _ = store.onRegistering()
        _ = store.renewLease(until: lease, now: 1)
        XCTAssertTrue(store.installLoaded(partition: 3, entries: [:], sequence: 12, now: 2).installed)
        XCTAssertEqual(put(&store, Route(partition: 3, epoch: 5), "k", "v", now: 3), .waitForLease)
        _ = store.onAssign([primaryLease(3, epoch: 5, backups: [])], now: 4)
        guard case .answer(let outcome, _) = put(&store, Route(partition: 3, epoch: 5), "k", "v", now: 5) else { return XCTFail("confirmed") }
        XCTAssertEqual(outcome.status, .ok)
    }

    /// What lets a workflow take its next step: leading the partition, its content loaded,
    /// a lease, and no claim waiting for confirmation.
    func testAWorkflowActsForAPartitionOnlyWhileItMayServeIt() {
        var store = UnitStore(incarnation: 1)
        _ = store.onAssign([primaryLease(3, epoch: 5, backups: [], load: 40)], now: 0)
        XCTAssertFalse(store.mayServe(3, now: 1), "no lease yet")
        _ = store.renewLease(until: 100, now: 1)
        XCTAssertFalse(store.mayServe(3, now: 2), "loading")
        _ = store.installLoaded(partition: 3, entries: [:], sequence: 0, now: 2)
        XCTAssertTrue(store.mayServe(3, now: 3))
        XCTAssertFalse(store.mayServe(4, now: 3), "not led here")
        XCTAssertFalse(store.mayServe(3, now: 100), "the lease ran out")
        _ = store.onRegistering()
        _ = store.renewLease(until: 1_000, now: 101)
        XCTAssertFalse(store.mayServe(3, now: 102), "a claim from before registering again")
        _ = store.onAssign([primaryLease(3, epoch: 5, backups: [])], now: 103)
        XCTAssertTrue(store.mayServe(3, now: 104))
    }

    func testSyncHoldsTheReplyUntilTheBackupHasTheChange() {
        var (primary, backup) = pair()
        let route = Route(partition: 0, epoch: 1)
        guard case .answer(let outcome, let token?) = put(&primary, route, "k", "v", now: 1) else { return XCTFail() }
        XCTAssertEqual(outcome.status, .ok)
        let released = carry(backup.onChanges(publish(primary, 0, from: 1), now: 2), backup: &backup, primary: &primary, now: 2)
        XCTAssertEqual(released, [.release(token: token)])
        XCTAssertEqual(follower(backup, 0)?.data.get(bytes("k"))?.value, bytes("v"))
    }

    /// A read reports the partition's state: while a write is not on the backups yet, a
    /// read after it waits too, so no client sees a value a failover could take back.
    func testAReadWaitsUntilWhatItSeesIsCommitted() {
        var (primary, backup) = pair()
        let route = Route(partition: 0, epoch: 1)
        _ = put(&primary, route, "k", "v", now: 1)
        guard case .answer(let read, let token?) = get(&primary, route, "k", now: 2) else { return XCTFail("the read must wait") }
        XCTAssertEqual(read.payload, bytes("v"))
        let released = carry(backup.onChanges(publish(primary, 0, from: 1), now: 3), backup: &backup, primary: &primary, now: 3)
        XCTAssertTrue(released.contains(.release(token: token)))
        guard case .answer(_, nil) = get(&primary, route, "k", now: 4) else { return XCTFail("nothing uncommitted: at once") }
    }

    func testAsyncNeverHolds() {
        var (primary, _) = pair()
        guard case .answer(_, nil) = put(&primary, Route(partition: 0, epoch: 1), "k", "v", sync: false) else { return XCTFail() }
    }

    // MARK: - Exactly once

    /// F2.2: a retried, re-routed or resent request gets its first reply and changes nothing.
    func testTheSameRequestTwiceIsAppliedOnceAndAnsweredTheSame() {
        var (primary, backup) = pair()
        let route = Route(partition: 0, epoch: 1)
        let id = RequestID(client: bytes("client-1"), sequence: 7)
        guard case .answer(let first, _) = put(&primary, route, "k", "one", request: id, now: 1) else { return XCTFail() }
        XCTAssertEqual(first.change?.request?.id, id, "the change carries the request, for the backups")
        guard case .answer(let again, _) = put(&primary, route, "k", "two", request: id, now: 2) else { return XCTFail() }
        XCTAssertNil(again.change)
        XCTAssertEqual(again.payload, first.payload)
        XCTAssertEqual(again.version, first.version)
        XCTAssertEqual(primary.led(0)?.store.get(bytes("k"))?.value, bytes("one"))
        XCTAssertEqual(primary.led(0)?.store.sequence, 1)
        // A cas retried after it applied answers its own success, not a version conflict.
        let casID = RequestID(client: bytes("client-1"), sequence: 8)
        let cas = { (store: inout UnitStore) in
            store.handle(route: route, operation: .cas, key: bytes("k"), arguments: [bytes("1"), bytes("three")], request: casID, sync: true, now: 3)
        }
        XCTAssertEqual(cas(&primary).outcome?.status, .ok)
        XCTAssertEqual(cas(&primary).outcome?.status, .ok)
        // The backup learns the requests with the changes: promoted, it answers retries the same.
        carry(backup.onChanges(publish(primary, 0, from: 1), now: 4), backup: &backup, primary: &primary, now: 4)
        _ = backup.onAssign([primaryLease(0, epoch: 2, unit: "b", backups: [])], now: 5)
        guard case .answer(let promoted, _) = put(&backup, Route(partition: 0, epoch: 2), "k", "four", request: id, now: 6) else { return XCTFail() }
        XCTAssertEqual(promoted.payload, first.payload)
        XCTAssertEqual(backup.led(0)?.store.get(bytes("k"))?.value, bytes("three"))
    }

    func testARetryWaitsForItsFirstChangeToBeCommitted() {
        var (primary, backup) = pair()
        let route = Route(partition: 0, epoch: 1)
        let id = RequestID(client: bytes("c"), sequence: 1)
        _ = put(&primary, route, "k", "v", request: id, now: 1)
        guard case .answer(_, let token?) = put(&primary, route, "k", "v", request: id, now: 2) else { return XCTFail("the retry must wait too") }
        let released = carry(backup.onChanges(publish(primary, 0, from: 1), now: 3), backup: &backup, primary: &primary, now: 3)
        XCTAssertTrue(released.contains(.release(token: token)))
    }

    func testARequestBelowTheClientsFloorIsExpired() {
        var (primary, _) = pair()
        let route = Route(partition: 0, epoch: 1)
        _ = put(&primary, route, "k", "v", request: RequestID(client: bytes("c"), sequence: 10, floor: 10), now: 1)
        let old = put(&primary, route, "k", "w", request: RequestID(client: bytes("c"), sequence: 9, floor: 9), now: 2)
        XCTAssertEqual(old.outcome?.status, .conflict)
        XCTAssertEqual(GridError(status: .conflict, payload: old.outcome?.payload ?? []).code, "request_expired")
        XCTAssertEqual(primary.led(0)?.store.get(bytes("k"))?.value, bytes("v"))
    }

    // MARK: - Promotion and demotion

    /// A backup the broker carried in sync is waited for by the new primary from its first
    /// write, and continues its data by a catch-up instead of a snapshot.
    func testAPromotedBackupWaitsForTheCarriedBackupWhichContinuesWithoutASnapshot() {
        var (primary, b) = pair()
        var c = unit(incarnation: 300)
        _ = primary.onAssign([primaryLease(0, epoch: 1, backups: ["b", "c"])], now: 1)
        carry(c.onAssign([backupLease(0, epoch: 1, backups: ["b", "c"])], now: 1), backup: &c, named: "c", primary: &primary, now: 1)
        let route = Route(partition: 0, epoch: 1)
        for index in 0..<5 { _ = put(&primary, route, "k\(index)", "v", now: 2) }
        carry(b.onChanges(publish(primary, 0, from: 1), now: 3), backup: &b, primary: &primary, now: 3)
        carry(c.onChanges(publish(primary, 0, from: 1), now: 3), backup: &c, named: "c", primary: &primary, now: 3)
        // p dies; b is promoted, c stays in sync.
        _ = b.onAssign([primaryLease(0, epoch: 2, unit: "b", backups: ["c"], inSync: ["c"])], now: 4)
        XCTAssertEqual(b.led(0)?.acks.committed, 0, "nothing new counts as committed before c has it")
        guard case .answer(_, let token?) = put(&b, Route(partition: 0, epoch: 2), "k9", "v", now: 5) else { return XCTFail("c is waited for") }
        let resync = c.onAssign([backupLease(0, epoch: 2, primary: "b", backups: ["c"])], now: 6)
        XCTAssertEqual(resync, [.toPrimary(primary: "b", .requestCatchUp(partition: 0, epoch: 2, from: 6, dataEpoch: 1, follow: 301))])
        let released = carry(resync, backup: &c, named: "c", primary: &b, now: 7)
        XCTAssertTrue(released.contains(.release(token: token)))
        XCTAssertEqual(follower(c, 0)?.data.entries, b.led(0)?.store.entries, "caught up from b's log, no snapshot")
        XCTAssertEqual(follower(c, 0)?.log.count, 6)
    }

    func testADemotedPrimaryAbandonsWhatItHeldAndResyncs() {
        var (primary, _) = pair()
        guard case .answer(_, let token?) = put(&primary, Route(partition: 0, epoch: 1), "zombie", "x", now: 1) else { return XCTFail() }
        let demoted = primary.onAssign([backupLease(0, epoch: 2, primary: "b", backups: ["p"])], now: 2)
        XCTAssertEqual(demoted.first, .abandon(token: token))
        XCTAssertEqual(demoted.last, .toPrimary(primary: "b", .requestCatchUp(partition: 0, epoch: 2, from: 2, dataEpoch: 1, follow: 100)))
        // The new primary's history does not hold the zombie's write: it answers with a snapshot.
        var b = unit()
        _ = b.onAssign([primaryLease(0, epoch: 2, unit: "b", backups: ["p"])], now: 2)
        XCTAssertNil(b.led(0)?.catchUp(from: 2, dataEpoch: 1))
    }

    func testCommitsArePublishedWhenTheyMoveAndNotWithoutALease() {
        var (primary, backup) = pair()
        _ = primary.commitsToPublish(all: true, now: 0)
        _ = put(&primary, Route(partition: 0, epoch: 1), "k", "v", now: 1)
        XCTAssertTrue(primary.commitsToPublish(all: false, now: 1).isEmpty, "not committed yet")
        carry(backup.onChanges(publish(primary, 0, from: 1), now: 2), backup: &backup, primary: &primary, now: 2)
        let published = primary.commitsToPublish(all: false, now: 2)
        XCTAssertEqual(published.map(\.committed), [1])
        XCTAssertEqual(published.map(\.epoch), [1])
        XCTAssertTrue(primary.commitsToPublish(all: false, now: 3).isEmpty)
        XCTAssertEqual(primary.commitsToPublish(all: true, now: 3).count, 1)
        XCTAssertTrue(primary.commitsToPublish(all: true, now: lease).isEmpty, "a lapsed lease announces nothing")
    }

    func testHoldingsReportTheInSyncBackupsAndTheConfirmation() {
        let (primary, backup) = pair()
        XCTAssertEqual(primary.holdings, [Holding(partition: 0, role: .primary, epoch: 1, sequence: 0, inSync: true, inSyncBackups: ["b"])])
        XCTAssertEqual(primary.inSyncMask(of: 0), 1)
        XCTAssertEqual(backup.holdings, [Holding(partition: 0, role: .backup, epoch: 1, sequence: 0, inSync: true)])
    }

    func testAStalledBackupGetsTheChangesItMissedResent() {
        var (primary, backup) = pair()
        _ = put(&primary, Route(partition: 0, epoch: 1), "a", "1", now: 0)
        carry(backup.onChanges(publish(primary, 0, from: 1), now: 1), backup: &backup, primary: &primary, now: 1)
        _ = put(&primary, Route(partition: 0, epoch: 1), "b", "2", now: 10)   // lost on PUB
        XCTAssertEqual(primary.onTick(now: 20, resendAfterMilliseconds: 100), [])
        XCTAssertEqual(primary.onTick(now: 200, resendAfterMilliseconds: 100), [.resend(backup: "b", partition: 0, changes: publish(primary, 0, from: 2))])
    }
}
