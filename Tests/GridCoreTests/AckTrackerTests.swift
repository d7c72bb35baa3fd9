import GridCore
import XCTest

/// The primary's view of its backups: the hold set, the commit index, and the one
/// definition of "in sync" the broker promotes by (F1.2 of the correctness review).
final class AckTrackerTests: XCTestCase {
    private typealias Member = AckTracker.Member

    /// A tracker at `newest` with backups, each having asked under follower id 10 + its index.
    private func tracker(newest: UInt64 = 0, backups: [String], inSync: [String] = [], committed: UInt64? = nil) -> AckTracker {
        var tracker = AckTracker(newest: newest, committed: committed)
        _ = tracker.setBackups(backups.map { Member(name: $0, incarnation: 7, inSync: inSync.contains($0)) }, now: 0)
        for (index, name) in backups.enumerated() { tracker.onFollowerRequest(backup: name, follow: UInt64(10 + index), now: 0) }
        return tracker
    }

    /// Appends sequences `from...to` and holds a token per sequence (token = sequence).
    private func write(_ tracker: inout AckTracker, _ range: ClosedRange<UInt64>) -> [Int] {
        var released: [Int] = []
        for sequence in range {
            tracker.onAppend(sequence: sequence)
            released += tracker.hold(Int(sequence), sequence: sequence)
        }
        return released
    }

    func testWithoutBackupsEverythingIsCommittedAtOnce() {
        var tracker = AckTracker()
        XCTAssertEqual(write(&tracker, 1...3), [1, 2, 3])
        XCTAssertEqual(tracker.committed, 3)
        XCTAssertEqual(tracker.waitingCount, 0)
    }

    func testACatchingUpBackupIsNotWaitedForAndNotInSync() {
        var tracker = tracker(backups: ["b"])
        XCTAssertEqual(write(&tracker, 1...5), [1, 2, 3, 4, 5], "a backup still catching up holds nothing back")
        XCTAssertEqual(tracker.inSyncNames, [])
        XCTAssertEqual(tracker.inSyncMask, 0)
    }

    func testABackupThatAcknowledgesThroughTheCommitIndexIsInSyncAndThenWaitedFor() {
        var tracker = tracker(backups: ["b"])
        _ = write(&tracker, 1...5)
        let joined = tracker.onAcknowledge(backup: "b", follow: 10, sequence: 5, now: 1)
        XCTAssertTrue(joined.nowInSync)
        XCTAssertEqual(tracker.inSyncNames, ["b"])
        XCTAssertEqual(tracker.inSyncMask, 1)
        XCTAssertEqual(write(&tracker, 6...7), [], "an in-sync backup holds writes back")
        XCTAssertEqual(tracker.committed, 5)
        XCTAssertEqual(tracker.onAcknowledge(backup: "b", follow: 10, sequence: 6, now: 2).released, [6])
        XCTAssertEqual(tracker.onAcknowledge(backup: "b", follow: 10, sequence: 7, now: 2).released, [7])
        XCTAssertEqual(tracker.committed, 7)
        XCTAssertFalse(tracker.onAcknowledge(backup: "b", follow: 10, sequence: 7, now: 3).nowInSync, "in sync is announced once")
    }

    /// F1.2: a backup behind the commit index joins the hold set (writes wait for it) but is
    /// in sync only once it has what was released without it.
    func testABackupCloseBehindIsWaitedForButInSyncOnlyPastWhatWasReleasedWithoutIt() {
        var tracker = tracker(newest: 0, backups: ["b"])
        _ = write(&tracker, 1...100)
        XCTAssertEqual(tracker.committed, 100)
        XCTAssertFalse(tracker.onAcknowledge(backup: "b", follow: 10, sequence: 90, now: 1).nowInSync)
        XCTAssertEqual(tracker.backups["b"]?.standing, .holding(joinPoint: 100))
        XCTAssertEqual(tracker.inSyncNames, [], "writes 91...100 were released without it")
        XCTAssertEqual(write(&tracker, 101...101), [], "from now on writes wait for it")
        XCTAssertEqual(tracker.committed, 100, "the commit index never goes back")
        XCTAssertTrue(tracker.onAcknowledge(backup: "b", follow: 10, sequence: 100, now: 2).nowInSync)
        XCTAssertEqual(tracker.onAcknowledge(backup: "b", follow: 10, sequence: 101, now: 2).released, [101])
    }

    func testABackupFarBehindStaysCatchingUp() {
        var tracker = AckTracker(newest: 0, committed: nil, joinSlack: 10)
        _ = tracker.setBackups([Member(name: "b")], now: 0)
        tracker.onFollowerRequest(backup: "b", follow: 1, now: 0)
        _ = write(&tracker, 1...100)
        _ = tracker.onAcknowledge(backup: "b", follow: 1, sequence: 50, now: 1)
        XCTAssertEqual(tracker.backups["b"]?.standing, .catchingUp)
        XCTAssertEqual(write(&tracker, 101...101), [101])
    }

    /// F1.2: acknowledgements of another follower (an earlier one of the same unit, or of an
    /// earlier process) or before any request say nothing about the current one.
    func testOnlyTheCurrentFollowersAcknowledgementsCount() {
        var tracker = AckTracker()
        _ = tracker.setBackups([Member(name: "b", incarnation: 1)], now: 0)
        _ = write(&tracker, 1...5)
        XCTAssertFalse(tracker.onAcknowledge(backup: "b", follow: 3, sequence: 5, now: 1).nowInSync, "no request yet: no follower known")
        tracker.onFollowerRequest(backup: "b", follow: 4, now: 1)
        XCTAssertFalse(tracker.onAcknowledge(backup: "b", follow: 3, sequence: 5, now: 1).nowInSync, "a late acknowledgement of an older follower")
        XCTAssertNil(tracker.backups["b"]?.acknowledged)
        XCTAssertTrue(tracker.onAcknowledge(backup: "b", follow: 4, sequence: 5, now: 1).nowInSync)
        XCTAssertEqual(tracker.onAcknowledge(backup: "stranger", follow: 4, sequence: 5, now: 1).released, [])
    }

    func testANewProcessUnderTheSameNameStartsOver() {
        var tracker = tracker(backups: ["b"])
        _ = write(&tracker, 1...3)
        _ = tracker.onAcknowledge(backup: "b", follow: 10, sequence: 3, now: 1)
        XCTAssertEqual(tracker.inSyncNames, ["b"])
        _ = tracker.setBackups([Member(name: "b", incarnation: 8)], now: 2)
        XCTAssertEqual(tracker.backups["b"]?.standing, .catchingUp)
        XCTAssertNil(tracker.backups["b"]?.acknowledged)
        XCTAssertEqual(write(&tracker, 4...4), [4])
    }

    func testTheSameProcessKeepsItsStanding() {
        var tracker = tracker(backups: ["b"])
        _ = write(&tracker, 1...3)
        _ = tracker.onAcknowledge(backup: "b", follow: 10, sequence: 3, now: 1)
        _ = tracker.setBackups([Member(name: "b", incarnation: 7), Member(name: "c", incarnation: 2)], now: 2)
        XCTAssertEqual(tracker.inSyncNames, ["b"])
        XCTAssertEqual(tracker.order, ["b", "c"])
    }

    /// A new follower of a backup that is waited for stays waited for: only the broker
    /// removes a backup, so the primary never releases writes without one the broker counts.
    func testANewFollowerOfAWaitedForBackupStaysWaitedFor() {
        var tracker = tracker(backups: ["b"])
        _ = write(&tracker, 1...3)
        _ = tracker.onAcknowledge(backup: "b", follow: 10, sequence: 3, now: 1)
        tracker.onFollowerRequest(backup: "b", follow: 11, now: 2)
        XCTAssertEqual(tracker.backups["b"]?.standing, .holding(joinPoint: 3))
        XCTAssertEqual(write(&tracker, 4...4), [])
        XCTAssertEqual(tracker.onAcknowledge(backup: "b", follow: 11, sequence: 4, now: 3).released, [4])
    }

    func testRemovingABackupReleasesWhatOnlyItHeld() {
        var tracker = tracker(backups: ["b", "c"])
        _ = tracker.onAcknowledge(backup: "b", follow: 10, sequence: 0, now: 0)
        _ = tracker.onAcknowledge(backup: "c", follow: 11, sequence: 0, now: 0)
        XCTAssertEqual(write(&tracker, 1...2), [])
        _ = tracker.onAcknowledge(backup: "b", follow: 10, sequence: 2, now: 1)
        XCTAssertEqual(tracker.setBackups([Member(name: "b", incarnation: 7)], now: 2), [1, 2])
    }

    /// A promoted primary waits from the first write on for the backups the broker carried
    /// over as in sync, and counts nothing new as committed until they have it.
    func testBackupsCarriedInSyncAreWaitedForFromTheStart() {
        var tracker = AckTracker(newest: 40, committed: 0)
        _ = tracker.setBackups([Member(name: "b", inSync: true)], now: 0)
        XCTAssertEqual(tracker.backups["b"]?.standing, .holding(joinPoint: 40))
        XCTAssertEqual(write(&tracker, 41...41), [])
        XCTAssertEqual(tracker.hold(99, sequence: 40), [], "a read of the promoted state waits too")
        tracker.onFollowerRequest(backup: "b", follow: 5, now: 1)
        let acknowledged = tracker.onAcknowledge(backup: "b", follow: 5, sequence: 41, now: 1)
        XCTAssertEqual(acknowledged.released, [41, 99])
        XCTAssertTrue(acknowledged.nowInSync)
        XCTAssertEqual(tracker.committed, 41)
    }

    func testAbandonReturnsEveryWaitingToken() {
        var tracker = tracker(backups: ["b"])
        _ = tracker.onAcknowledge(backup: "b", follow: 10, sequence: 0, now: 0)
        _ = write(&tracker, 1...3)
        XCTAssertEqual(tracker.abandon(), [1, 2, 3])
        XCTAssertEqual(tracker.waitingCount, 0)
        XCTAssertEqual(tracker.onAcknowledge(backup: "b", follow: 10, sequence: 3, now: 1).released, [])
    }

    func testManyHoldsReleaseInOrder() {
        var tracker = tracker(backups: ["b"])
        _ = tracker.onAcknowledge(backup: "b", follow: 10, sequence: 0, now: 0)
        _ = write(&tracker, 1...5_000)
        var released: [Int] = []
        for sequence in stride(from: 100, through: 5_000, by: 100) {
            released += tracker.onAcknowledge(backup: "b", follow: 10, sequence: UInt64(sequence), now: 1).released
        }
        XCTAssertEqual(released, Array(1...5_000))
    }

    func testStalledReportsAQuietBackupOncePerQuietPeriod() {
        var tracker = tracker(backups: ["b"])
        _ = tracker.onAcknowledge(backup: "b", follow: 10, sequence: 0, now: 0)
        _ = write(&tracker, 1...3)
        _ = tracker.onAcknowledge(backup: "b", follow: 10, sequence: 1, now: 10)
        XCTAssertTrue(tracker.stalled(newest: 3, now: 50, quietMilliseconds: 100).isEmpty)
        XCTAssertEqual(tracker.stalled(newest: 3, now: 110, quietMilliseconds: 100).map(\.from), [2])
        XCTAssertTrue(tracker.stalled(newest: 3, now: 150, quietMilliseconds: 100).isEmpty)
        XCTAssertEqual(tracker.stalled(newest: 3, now: 210, quietMilliseconds: 100).map(\.backup), ["b"])
    }

    func testBehindAndOldestUnacknowledged() {
        var tracker = tracker(backups: ["b", "c"])
        XCTAssertEqual(tracker.behind(newest: 10), 10)
        _ = tracker.onAcknowledge(backup: "b", follow: 10, sequence: 7, now: 0)
        _ = tracker.onAcknowledge(backup: "c", follow: 11, sequence: 9, now: 0)
        XCTAssertEqual(tracker.behind(newest: 10), 3)
        XCTAssertEqual(tracker.oldestUnacknowledged(newest: 10), 8)
        XCTAssertNil(tracker.oldestUnacknowledged(newest: 7))
    }

    /// The property the broker's promotion rests on, over random runs: whenever a backup is
    /// reported in sync, it has acknowledged every sequence that was ever released.
    func testAnInSyncBackupHoldsEveryReleasedChangeOverRandomRuns() {
        var random = SplitMix64(seed: 0xACC0_0001)
        for round in 0..<300 {
            var tracker = AckTracker(newest: 0, committed: nil, joinSlack: UInt64(random.below(20)))
            let names = ["b", "c"]
            _ = tracker.setBackups(names.map { Member(name: $0) }, now: 0)
            var follows: [String: UInt64] = [:]
            var applied: [String: UInt64] = [:]   // what each backup's current follower holds
            var newest: UInt64 = 0
            var releasedMax: UInt64 = 0
            var token = 0
            for step in 0..<200 {
                let name = names[random.below(2)]
                switch random.below(10) {
                case 0..<4:
                    newest += 1
                    tracker.onAppend(sequence: newest)
                    token += 1
                    if !tracker.hold(token, sequence: newest).isEmpty { releasedMax = max(releasedMax, newest) }
                case 4:
                    // A new follower: it starts from nothing (the worst case).
                    let follow = UInt64(step + 100)
                    follows[name] = follow
                    applied[name] = 0
                    tracker.onFollowerRequest(backup: name, follow: follow, now: UInt64(step))
                default:
                    guard let follow = follows[name] else { continue }
                    let target = min(newest, (applied[name] ?? 0) + UInt64(random.below(5)))
                    applied[name] = target
                    let result = tracker.onAcknowledge(backup: name, follow: follow, sequence: target, now: UInt64(step))
                    if !result.released.isEmpty { releasedMax = max(releasedMax, tracker.committed) }
                }
                XCTAssertGreaterThanOrEqual(tracker.committed, releasedMax, "round \(round)")
                for inSync in tracker.inSyncNames {
                    XCTAssertGreaterThanOrEqual(applied[inSync] ?? 0, releasedMax, "round \(round) step \(step): \(inSync) in sync without every released change")
                }
            }
        }
    }
}
