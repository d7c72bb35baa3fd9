import GridCore
import XCTest

/// One partition on a backup: snapshot first, then changes strictly in order;
/// gaps are asked for, never guessed (the Clone pattern).
final class ReplicaFollowerTests: XCTestCase {
    // (Test shorthands below: a PUB change carries its own epoch; `onChanges` without a
    // carrier is a catch-up reply from the epoch-2 primary.)
    private typealias Directive = ReplicaFollower.Directive

    /// Writes on a primary store, keeping every change and the state after each sequence.
    private struct Primary {
        var store = PartitionStore(partition: 3, epoch: 2)
        var changes: [Change] = []
        /// `states[s]`: the entries right after sequence `s` (`states[0]`: empty).
        var states: [EntryTable] = [[:]]

        mutating func put(_ key: String, _ value: String) {
            record(store.put(bytes(key), bytes(value)))
        }

        mutating func delete(_ key: String) {
            if let change = store.delete(bytes(key)) { record(change) }
        }

        private mutating func record(_ change: Change) {
            changes.append(change)
            states.append(store.entries)
        }

        /// The changes with sequences `from...`.
        func changes(from: UInt64) -> [Change] { changes.filter { $0.sequence >= from } }

        /// The snapshot taken right after `sequence`, as entries.
        func snapshot(at sequence: UInt64) -> [([UInt8], Entry)] {
            states[Int(sequence)].sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { ($0.key, $0.value) }
        }
    }

    private func primary(writes: Int) -> Primary {
        var primary = Primary()
        for index in 0..<writes {
            if index % 5 == 4 { primary.delete("k\(index % 3)") } else { primary.put("k\(index % 4)", "v\(index)") }
        }
        return primary
    }

    private func follower(now: UInt64 = 0) -> ReplicaFollower { ReplicaFollower(partition: 3, epoch: 2, follow: 9, now: now) }

    /// Installs a snapshot, and has the primary confirm the follower in sync (an unconfirmed
    /// follower reminds its primary of itself on the timer, which most tests do not look at).
    private func install(_ follower: inout ReplicaFollower, _ primary: Primary, at sequence: UInt64, now: UInt64 = 0) -> [Directive] {
        let directives = follower.onSnapshotChunk(epoch: 2, sequence: sequence, lastEpoch: 2, entries: primary.snapshot(at: sequence), requests: nil,
                                                  first: true, last: true, now: now)
        follower.onInSync(epoch: 2, follow: 9)
        return directives
    }

    private func ack(_ sequence: UInt64) -> Directive { .acknowledge(partition: 3, epoch: 2, sequence: sequence, follow: 9) }

    // MARK: - Snapshot first

    func testStartsAwaitingASnapshot() {
        let follower = follower(now: 70)
        XCTAssertEqual(follower.phase, .awaitingSnapshot(requestedAt: 70))
        XCTAssertFalse(follower.isFollowing)
        XCTAssertEqual(follower.initialDirectives, [.requestSnapshot(partition: 3, epoch: 2, follow: 9)])
        XCTAssertEqual(follower.partition, 3)
        XCTAssertEqual(follower.epoch, 2)
        XCTAssertEqual(follower.applied, 0)
        XCTAssertEqual(follower.data.count, 0)
        XCTAssertEqual(follower.staleRefused, 0)
    }

    func testSnapshotThenChangesInOrder() {
        let primary = primary(writes: 10)
        var follower = follower()
        XCTAssertEqual(install(&follower, primary, at: 6), [ack(6)])
        XCTAssertTrue(follower.isFollowing)
        XCTAssertEqual(follower.phase, .following)
        XCTAssertEqual(follower.applied, 6)
        XCTAssertEqual(follower.data.entries, primary.states[6])
        for change in primary.changes(from: 7) {
            XCTAssertEqual(follower.onChange(change, now: 1), [ack(change.sequence)], "acknowledgements carry the applied sequence")
        }
        XCTAssertEqual(follower.applied, 10)
        XCTAssertEqual(follower.data.entries, primary.store.entries)
        XCTAssertEqual(follower.data.epoch, 2)
    }

    func testChangesBeforeTheSnapshotAreBufferedThenAppliedWhenNewerAndDroppedWhenOlder() {
        let primary = primary(writes: 12)
        var follower = follower()
        // PUB delivers 3...12 while the snapshot (taken at 7) is on its way.
        for change in primary.changes(from: 3) {
            XCTAssertEqual(follower.onChange(change, now: 5), [], "buffered, not applied, not acknowledged")
            XCTAssertEqual(follower.applied, 0)
            XCTAssertEqual(follower.data.count, 0)
        }
        XCTAssertEqual(install(&follower, primary, at: 7), [ack(12)], "the snapshot, then 8...12 from the buffer")
        XCTAssertEqual(follower.applied, 12)
        XCTAssertEqual(follower.data.entries, primary.store.entries)
        // 3...7 were older than the snapshot: dropped, so nothing is applied twice or later.
        XCTAssertEqual(follower.onChange(primary.changes[4], now: 6), [])
        XCTAssertEqual(follower.data.entries, primary.store.entries)
    }

    func testASnapshotNewerThanEverythingBufferedDropsTheBuffer() {
        let primary = primary(writes: 9)
        var follower = follower()
        for change in primary.changes(from: 1).prefix(4) { _ = follower.onChange(change, now: 1) }
        XCTAssertEqual(install(&follower, primary, at: 9), [ack(9)])
        XCTAssertEqual(follower.data.entries, primary.store.entries)
        XCTAssertEqual(follower.onTick(now: 10_000), [], "nothing left waiting: no catch-up")
    }

    func testBufferedChangesBeyondAGapAfterTheSnapshotAskForACatchUp() {
        let primary = primary(writes: 12)
        var follower = follower()
        for change in primary.changes(from: 10) { _ = follower.onChange(change, now: 1) }
        // Snapshot at 6: 7...9 are missing before the buffered 10...12.
        XCTAssertEqual(install(&follower, primary, at: 6, now: 50), [.requestCatchUp(partition: 3, epoch: 2, from: 7, dataEpoch: 2, follow: 9), ack(6)])
        XCTAssertEqual(follower.applied, 6)
        XCTAssertEqual(follower.onChanges(primary.changes(from: 7).prefix(3).map { $0 }, now: 60), [ack(12)],
                       "the catch-up connects the buffer: one acknowledgement for the batch")
        XCTAssertEqual(follower.data.entries, primary.store.entries)
    }

    func testAChunkedSnapshotInstallsEveryEntry() {
        var primary = Primary()
        for index in 0..<25 { primary.put("key\(index)", "value\(index)") }
        let entries = primary.snapshot(at: 25)
        var follower = follower()
        XCTAssertEqual(follower.onSnapshotChunk(epoch: 2, sequence: 25, lastEpoch: 2, entries: Array(entries[0..<10]), requests: nil, first: true, last: false, now: 1), [])
        XCTAssertFalse(follower.isFollowing, "not before the last chunk")
        XCTAssertEqual(follower.data.count, 0, "nothing is visible before the last chunk")
        XCTAssertEqual(follower.onSnapshotChunk(epoch: 2, sequence: 25, lastEpoch: 2, entries: Array(entries[10..<20]), requests: nil, first: false, last: false, now: 2), [])
        XCTAssertEqual(follower.onSnapshotChunk(epoch: 2, sequence: 25, lastEpoch: 2, entries: Array(entries[20...]), requests: nil, first: false, last: true, now: 3), [ack(25)])
        XCTAssertTrue(follower.isFollowing)
        XCTAssertEqual(follower.data.count, 25)
        XCTAssertEqual(follower.data.entries, primary.store.entries)
        XCTAssertEqual(follower.applied, 25)
    }

    func testAnEmptySnapshotIsOneChunkMarkedFirstAndLast() {
        var follower = follower()
        XCTAssertEqual(follower.onSnapshotChunk(epoch: 2, sequence: 0, lastEpoch: 2, entries: [], requests: nil, first: true, last: true, now: 1), [ack(0)])
        XCTAssertTrue(follower.isFollowing)
    }

    func testSnapshotChunksThatDoNotBelongAreIgnored() {
        let primary = primary(writes: 5)
        var follower = follower()
        // A middle or last chunk without its first: ignored.
        XCTAssertEqual(follower.onSnapshotChunk(epoch: 2, sequence: 5, lastEpoch: 2, entries: primary.snapshot(at: 5), requests: nil, first: false, last: true, now: 1), [])
        XCTAssertFalse(follower.isFollowing)
        // Another epoch: ignored.
        XCTAssertEqual(follower.onSnapshotChunk(epoch: 1, sequence: 5, lastEpoch: 1, entries: primary.snapshot(at: 5), requests: nil, first: true, last: true, now: 1), [])
        XCTAssertEqual(follower.onSnapshotChunk(epoch: 3, sequence: 5, lastEpoch: 3, entries: primary.snapshot(at: 5), requests: nil, first: true, last: true, now: 1), [])
        XCTAssertFalse(follower.isFollowing)
        // Chunks of two different snapshots (a retry crossed the first): the second one's first chunk restarts.
        _ = follower.onSnapshotChunk(epoch: 2, sequence: 4, lastEpoch: 2, entries: [(bytes("stale"), Entry(value: [], version: 1))], requests: nil, first: true, last: false, now: 1)
        XCTAssertEqual(follower.onSnapshotChunk(epoch: 2, sequence: 5, lastEpoch: 2, entries: [], requests: nil, first: false, last: true, now: 1), [],
                       "a chunk of another snapshot does not complete this one")
        XCTAssertEqual(install(&follower, primary, at: 5), [ack(5)])
        XCTAssertNil(follower.data.get(bytes("stale")), "the abandoned snapshot's entries are gone")
        XCTAssertEqual(follower.data.entries, primary.store.entries)
        // Once following, a late snapshot (a duplicate answer to a retry) changes nothing.
        XCTAssertEqual(follower.onSnapshotChunk(epoch: 2, sequence: 2, lastEpoch: 2, entries: primary.snapshot(at: 2), requests: nil, first: true, last: true, now: 2), [])
        XCTAssertEqual(follower.applied, 5)
        XCTAssertEqual(follower.data.entries, primary.store.entries)
    }

    func testTheSnapshotRequestIsRepeatedWhenUnanswered() {
        var follower = follower(now: 100)
        XCTAssertEqual(follower.onTick(now: 100), [])
        XCTAssertEqual(follower.onTick(now: 100 + ReplicaFollower.retryMilliseconds - 1), [])
        XCTAssertEqual(follower.onTick(now: 100 + ReplicaFollower.retryMilliseconds), [.requestSnapshot(partition: 3, epoch: 2, follow: 9)])
        XCTAssertEqual(follower.phase, .awaitingSnapshot(requestedAt: 100 + ReplicaFollower.retryMilliseconds))
        XCTAssertEqual(follower.onTick(now: 100 + ReplicaFollower.retryMilliseconds + 1), [], "not again at once")
        XCTAssertEqual(follower.onTick(now: 100 + 2 * ReplicaFollower.retryMilliseconds), [.requestSnapshot(partition: 3, epoch: 2, follow: 9)])
        XCTAssertEqual(follower.onTick(now: 50), [], "a clock that went back does not count as waited")
    }

    func testASnapshotStillArrivingIsNotAbandonedByTheRetryTimer() {
        var follower = ReplicaFollower(partition: 0, epoch: 1, follow: 9, now: 0)
        let entries = (0..<6).map { (Array("k\($0)".utf8), Entry(value: [UInt8($0)], version: UInt64($0 + 1))) }
        XCTAssertEqual(follower.onSnapshotChunk(epoch: 1, sequence: 6, lastEpoch: 1, entries: Array(entries[0..<2]), requests: nil, first: true, last: false, now: 900), [])
        XCTAssertEqual(follower.onSnapshotChunk(epoch: 1, sequence: 6, lastEpoch: 1, entries: Array(entries[2..<4]), requests: nil, first: false, last: false, now: 1_400), [])
        XCTAssertEqual(follower.onTick(now: 1_500), [], "a chunk arrived 100 ms ago: the snapshot is on its way")
        XCTAssertEqual(follower.onSnapshotChunk(epoch: 1, sequence: 6, lastEpoch: 1, entries: Array(entries[4...]), requests: nil, first: false, last: true, now: 1_600),
                       [.acknowledge(partition: 0, epoch: 1, sequence: 6, follow: 9)])
        XCTAssertTrue(follower.isFollowing)
        XCTAssertEqual(follower.data.count, 6)
    }

    // MARK: - Gaps

    func testAGapAsksForACatchUpOnceThenAgainAfterTheRetryDelay() {
        let primary = primary(writes: 10)
        var follower = follower()
        _ = install(&follower, primary, at: 2)
        let retry = ReplicaFollower.retryMilliseconds
        // 3 was dropped: 4 arrives.
        XCTAssertEqual(follower.onChange(primary.changes[3], now: 1_000), [.requestCatchUp(partition: 3, epoch: 2, from: 3, dataEpoch: 2, follow: 9)])
        XCTAssertEqual(follower.applied, 2, "4 waits for 3")
        XCTAssertEqual(follower.onChange(primary.changes[4], now: 1_001), [], "no second request within the retry delay")
        XCTAssertEqual(follower.onChange(primary.changes[4], now: 1_002), [], "a duplicate of a buffered change")
        XCTAssertEqual(follower.onTick(now: 1_000 + retry - 1), [])
        XCTAssertEqual(follower.onTick(now: 1_000 + retry), [.requestCatchUp(partition: 3, epoch: 2, from: 3, dataEpoch: 2, follow: 9)], "repeated after the delay")
        XCTAssertEqual(follower.onTick(now: 1_000 + retry + 1), [])
        // The answer fills the gap; everything buffered drains in order.
        XCTAssertEqual(follower.onChange(primary.changes[2], now: 2_100), [ack(5)])
        XCTAssertEqual(follower.data.entries, primary.states[5])
        XCTAssertEqual(follower.onTick(now: 10_000), [], "no gap left: no more catch-ups")
        // A later gap asks again at once: the previous request was answered.
        XCTAssertEqual(follower.onChange(primary.changes[7], now: 10_001), [.requestCatchUp(partition: 3, epoch: 2, from: 6, dataEpoch: 2, follow: 9)])
    }

    func testAGapAtTimeZeroIsStillOneRequest() {
        let primary = primary(writes: 4)
        var follower = follower()
        _ = install(&follower, primary, at: 0)
        XCTAssertEqual(follower.onChange(primary.changes[2], now: 0), [.requestCatchUp(partition: 3, epoch: 2, from: 1, dataEpoch: 0, follow: 9)],
                       "nothing held yet: no label")
        XCTAssertEqual(follower.onChange(primary.changes[3], now: 0), [])
        XCTAssertEqual(follower.onTick(now: 1), [])
    }

    func testTooManyChangesAheadOfAGapAskForASnapshot() {
        var primary = Primary()
        let count = ReplicaFollower.maximumAhead + 2
        for index in 0..<count { primary.put("k\(index % 50)", "v\(index)") }
        var follower = follower()
        _ = install(&follower, primary, at: 0)
        // Sequence 1 never arrives; 2, 3, ... pile up.
        var snapshotRequests = 0
        for change in primary.changes.dropFirst() {
            for directive in follower.onChange(change, now: 10) where directive == .requestSnapshot(partition: 3, epoch: 2, follow: 9) {
                snapshotRequests += 1
                XCTAssertEqual(change.sequence, UInt64(ReplicaFollower.maximumAhead) + 2, "when the buffer passes the limit")
            }
        }
        XCTAssertEqual(snapshotRequests, 1)
        XCTAssertEqual(follower.phase, .awaitingSnapshot(requestedAt: 10))
        XCTAssertEqual(follower.applied, 0)
        XCTAssertEqual(install(&follower, primary, at: UInt64(count)), [ack(UInt64(count))])
        XCTAssertEqual(follower.data.entries, primary.store.entries)
    }

    // MARK: - Duplicates and order

    func testDuplicatesAreNeverAppliedTwice() {
        var primary = Primary()
        primary.put("k", "1")
        primary.delete("k")
        primary.put("k", "2")
        var follower = follower()
        _ = install(&follower, primary, at: 0)
        XCTAssertEqual(follower.onChanges(primary.changes, now: 1), [ack(3)])
        // Replaying the delete after the put would lose "2"; replaying the first put would resurrect "1".
        XCTAssertEqual(follower.onChange(primary.changes[1], now: 2), [])
        XCTAssertEqual(follower.onChange(primary.changes[0], now: 2), [])
        XCTAssertEqual(follower.onChanges(primary.changes, now: 2), [ack(3)], "an answer is acknowledged, applying nothing")
        XCTAssertEqual(follower.data.get(bytes("k")), Entry(value: bytes("2"), version: 3))
        XCTAssertEqual(follower.applied, 3)
    }

    func testRandomOrdersDuplicatesAndDropsEndEqualToThePrimary() {
        var random = SplitMix64(seed: 0xF011_0E55)
        for round in 0..<30 {
            // 500 changes over a few keys, deletes included.
            var primary = Primary()
            for index in 0..<500 {
                let key = "k\(random.below(12))"
                if random.below(4) == 0, primary.store.get(bytes(key)) != nil { primary.delete(key) } else { primary.put(key, "v\(index)") }
            }
            let newest = primary.store.sequence
            // Every change once or more, shuffled; some dropped entirely (a later catch-up fills them).
            var messages: [Change] = []
            for change in primary.changes where random.below(10) != 0 {
                for _ in 0..<(1 + random.below(3)) { messages.append(change) }
            }
            messages.shuffle(using: &random)
            let snapshotAt = UInt64(random.below(Int(newest) + 1))
            let snapshotAfter = random.below(messages.count + 1)

            var follower = follower()
            var now: UInt64 = 0
            var lastAck: UInt64 = 0
            var catchUps: [UInt64] = []
            func check(_ directives: [Directive], _ context: String) {
                for directive in directives {
                    switch directive {
                    case .acknowledge(3, 2, let sequence, 9):
                        XCTAssertEqual(sequence, follower.applied, context)
                        XCTAssertGreaterThanOrEqual(sequence, lastAck, "\(context): acknowledgements never go back")
                        lastAck = sequence
                    case .requestCatchUp(3, 2, let from, _, 9):
                        XCTAssertEqual(from, follower.applied + 1, context)
                        catchUps.append(from)
                    default:
                        XCTFail("\(context): unexpected \(directive)")
                    }
                }
                // Never out of order, never twice: the data is exactly the primary's at the applied sequence.
                if follower.isFollowing {
                    XCTAssertEqual(follower.data.entries, primary.states[Int(follower.applied)], context)
                } else {
                    XCTAssertEqual(follower.applied, 0, context)
                }
            }
            for (index, change) in messages.enumerated() {
                now += 1
                if index == snapshotAfter {
                    check(install(&follower, primary, at: snapshotAt, now: now), "round \(round) snapshot")
                }
                check(follower.onChange(change, now: now), "round \(round) message \(index)")
            }
            if snapshotAfter == messages.count {
                check(install(&follower, primary, at: snapshotAt, now: now), "round \(round) snapshot last")
            }
            // Serve catch-ups (asked at once or on the timer) until nothing is missing.
            var turns = 0
            while follower.applied < newest {
                turns += 1
                guard turns < 20 else { return XCTFail("round \(round): stuck at \(follower.applied) of \(newest)") }
                now += ReplicaFollower.retryMilliseconds
                catchUps = []
                check(follower.onTick(now: now), "round \(round) tick")
                if follower.applied < newest, catchUps.isEmpty {
                    // Nothing buffered beyond the gap (the last changes were dropped): the primary's resend repairs it.
                    check(follower.onChanges(primary.changes(from: follower.applied + 1), now: now), "round \(round) resend")
                }
                for from in catchUps {
                    check(follower.onChanges(primary.changes(from: from), now: now), "round \(round) catch-up from \(from)")
                }
            }
            XCTAssertTrue(follower.isFollowing)
            XCTAssertEqual(follower.applied, newest)
            XCTAssertEqual(follower.data.entries, primary.store.entries, "round \(round)")
            XCTAssertEqual(follower.onTick(now: now + 10 * ReplicaFollower.retryMilliseconds), [], "round \(round): nothing left to ask")
        }
    }

    // MARK: - Epochs

    func testAStaleEpochIsRefusedAndCountedANewerOneIgnored() {
        var primary = Primary()
        primary.put("k", "v")
        var follower = follower()
        _ = install(&follower, primary, at: 1)
        var stale = primary.changes[0]
        stale.epoch = 1
        stale.sequence = 2
        stale.value = bytes("from a deposed primary")
        XCTAssertEqual(follower.onChange(stale, now: 1), [])
        XCTAssertEqual(follower.onChange(stale, now: 2), [])
        XCTAssertEqual(follower.staleRefused, 2)
        var newer = stale
        newer.epoch = 3
        newer.value = bytes("from a newer lease")
        XCTAssertEqual(follower.onChange(newer, now: 3), [], "the broker's assignment brings the new epoch, with a snapshot")
        XCTAssertEqual(follower.staleRefused, 2, "a newer epoch is not stale")
        XCTAssertEqual(follower.applied, 1)
        XCTAssertEqual(follower.data.get(bytes("k"))?.value, bytes("v"))
        XCTAssertEqual(follower.onTick(now: 10_000), [], "neither was buffered")
        // Another partition's change is not ours at all.
        var other = primary.changes[0]
        other.partition = 4
        other.sequence = 2
        XCTAssertEqual(follower.onChange(other, now: 4), [])
        XCTAssertEqual(follower.applied, 1)
        XCTAssertEqual(follower.staleRefused, 2)
    }

    // MARK: - A new lease over data already held

    func testAFollowerWithDataAsksToContinueAndFollowsWhenThePrimaryReplays() {
        // A backup of epoch 2 (or a demoted primary) holds 1...6; the new primary leads epoch 5.
        let primary = primary(writes: 9)
        var held = PartitionStore(partition: 3, epoch: 2)
        for change in primary.changes(from: 1).prefix(6) { held.apply(change) }
        var follower = ReplicaFollower(resyncing: held, log: ReplicationLog(), epoch: 5, follow: 4, now: 40)
        XCTAssertEqual(follower.phase, .catchingUp(requestedAt: 40))
        XCTAssertEqual(follower.initialDirectives, [.requestCatchUp(partition: 3, epoch: 5, from: 7, dataEpoch: 2, follow: 4)],
                       "the label of the last change held lets the primary tell a prefix of its history")
        // PUB under the new lease waits until the answer arrives.
        var later = primary.changes[8]
        later.epoch = 5
        XCTAssertEqual(follower.onChanges([later], carrier: 5, now: 41), [])
        XCTAssertEqual(follower.applied, 6)
        XCTAssertEqual(follower.onChanges(Array(primary.changes(from: 7).prefix(2)), carrier: 5, answered: true, now: 42),
                       [.acknowledge(partition: 3, epoch: 5, sequence: 9, follow: 4)])
        XCTAssertTrue(follower.isFollowing)
        XCTAssertEqual(follower.data.entries, primary.store.entries)
        XCTAssertEqual(follower.data.epoch(at: 9), 5, "changes keep their labels")
        XCTAssertEqual(follower.data.epoch(at: 7), 2)
        XCTAssertEqual(follower.log.newest, 9, "the log it keeps serves catch-ups if it is promoted")
    }

    func testAFollowerWhoseDataIsNotAPrefixGetsASnapshotInstead() {
        var old = PartitionStore(partition: 3, epoch: 1)
        _ = old.put(bytes("a"), bytes("1"))
        _ = old.put(bytes("diverged"), bytes("x"))
        var follower = ReplicaFollower(resyncing: old, log: ReplicationLog(), epoch: 2, follow: 9, now: 40)
        XCTAssertEqual(follower.data.count, 2, "the data stays until something replaces it")
        var primary = Primary()
        primary.put("a", "1")
        XCTAssertEqual(install(&follower, primary, at: 1), [ack(1)])
        XCTAssertNil(follower.data.get(bytes("diverged")), "what only the old primary had is gone")
        XCTAssertEqual(follower.data.entries, primary.store.entries)
        XCTAssertEqual(follower.applied, 1, "the sequence follows the new primary, even backwards")
    }

    func testACatchUpNeverAnsweredFallsBackToASnapshot() {
        var held = PartitionStore(partition: 3, epoch: 2)
        _ = held.put(bytes("a"), bytes("1"))
        var follower = ReplicaFollower(resyncing: held, log: ReplicationLog(), epoch: 3, follow: 9, now: 0)
        let retry = ReplicaFollower.retryMilliseconds
        XCTAssertEqual(follower.onTick(now: retry), [.requestCatchUp(partition: 3, epoch: 3, from: 2, dataEpoch: 2, follow: 9)])
        XCTAssertEqual(follower.onTick(now: 2 * retry), [.requestCatchUp(partition: 3, epoch: 3, from: 2, dataEpoch: 2, follow: 9)])
        XCTAssertEqual(follower.onTick(now: 3 * retry), [.requestSnapshot(partition: 3, epoch: 3, follow: 9)])
    }

    func testEmptyDataStartsWithASnapshot() {
        let follower = ReplicaFollower(resyncing: PartitionStore(partition: 3, epoch: 1), log: ReplicationLog(), epoch: 2, follow: 9, now: 0)
        XCTAssertEqual(follower.initialDirectives, [.requestSnapshot(partition: 3, epoch: 2, follow: 9)])
    }

    /// F1.2: a catch-up beyond the primary's log is answered with a snapshot, which a
    /// following follower installs (it used to ignore it and stall its partition).
    func testASnapshotAnsweringACatchUpIsInstalledWhileFollowing() {
        let primary = primary(writes: 20)
        var follower = follower()
        _ = install(&follower, primary, at: 5)
        XCTAssertEqual(follower.onChange(primary.changes[19], now: 100), [.requestCatchUp(partition: 3, epoch: 2, from: 6, dataEpoch: 2, follow: 9)])
        XCTAssertEqual(install(&follower, primary, at: 19, now: 110), [ack(20)], "the snapshot, then the buffered 20")
        XCTAssertEqual(follower.data.entries, primary.store.entries)
        // Without a catch-up outstanding, a stray snapshot changes nothing.
        XCTAssertEqual(install(&follower, primary, at: 20, now: 120), [])
    }

    func testConfirmationsCountOnlyForThisFollowerAndEpoch() {
        let primary = primary(writes: 3)
        var follower = follower()
        follower.onInSync(epoch: 2, follow: 9)
        XCTAssertFalse(follower.confirmed, "not before it follows")
        _ = follower.onSnapshotChunk(epoch: 2, sequence: 3, lastEpoch: 2, entries: primary.snapshot(at: 3), requests: nil, first: true, last: true, now: 0)
        follower.onInSync(epoch: 2, follow: 8)
        follower.onInSync(epoch: 1, follow: 9)
        XCTAssertFalse(follower.confirmed)
        follower.onInSync(epoch: 2, follow: 9)
        XCTAssertTrue(follower.confirmed)
        follower.forgetConfirmation()
        XCTAssertFalse(follower.confirmed)
        XCTAssertEqual(follower.announcement, [.requestCatchUp(partition: 3, epoch: 2, from: 4, dataEpoch: 2, follow: 9)])
    }
}

extension ReplicaFollower {
    /// A change from PUB: its own epoch is the carrier.
    mutating func onChange(_ change: Change, now: UInt64) -> [Directive] {
        onChanges([change], carrier: change.epoch, now: now)
    }

    /// Changes answering a catch-up, from the primary at the follower's epoch.
    mutating func onChanges(_ changes: [Change], now: UInt64) -> [Directive] {
        onChanges(changes, carrier: epoch, answered: true, now: now)
    }
}
