import GridCore
import XCTest

/// A primary's view of its backups: which replies wait (sync mode), and how far behind each backup is.
final class AckTrackerTests: XCTestCase {
    private func assertBackup(_ backup: AckTracker.Backup?, acknowledged: UInt64?, progressAt: UInt64, _ message: String = "",
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotNil(backup, message, file: file, line: line)
        XCTAssertEqual(backup?.acknowledged, acknowledged, message, file: file, line: line)
        XCTAssertEqual(backup?.progressAt, progressAt, message, file: file, line: line)
    }

    func testWithoutBackupsNothingWaits() {
        var tracker = AckTracker()
        XCTAssertEqual(tracker.hold(1, sequence: 1), [1])
        XCTAssertEqual(tracker.waitingCount, 0)
        XCTAssertEqual(tracker.behind(newest: 10), 0)
        XCTAssertNil(tracker.oldestUnacknowledged(newest: 10))
    }

    func testAHoldIsReleasedOnlyWhenEveryInSyncBackupAcknowledged() {
        var tracker = AckTracker()
        XCTAssertEqual(tracker.setBackups(["b", "c"], now: 0), [])
        XCTAssertEqual(tracker.onAcknowledge(backup: "b", sequence: 4, now: 1), [])
        XCTAssertEqual(tracker.onAcknowledge(backup: "c", sequence: 4, now: 1), [])
        XCTAssertEqual(tracker.hold(10, sequence: 5), [], "both are in sync: the reply waits")
        XCTAssertEqual(tracker.hold(11, sequence: 6), [])
        XCTAssertEqual(tracker.hold(12, sequence: 7), [])
        XCTAssertEqual(tracker.waitingCount, 3)
        XCTAssertEqual(tracker.onAcknowledge(backup: "b", sequence: 6, now: 2), [], "c has not acknowledged 5 yet")
        XCTAssertEqual(tracker.onAcknowledge(backup: "c", sequence: 5, now: 3), [10])
        XCTAssertEqual(tracker.onAcknowledge(backup: "c", sequence: 7, now: 4), [11], "7 still waits for b")
        XCTAssertEqual(tracker.onAcknowledge(backup: "b", sequence: 7, now: 5), [12])
        XCTAssertEqual(tracker.waitingCount, 0)
        XCTAssertEqual(tracker.hold(13, sequence: 7), [13], "already acknowledged: released at once")
        assertBackup(tracker.backups["b"], acknowledged: 7, progressAt: 5)
    }

    func testAcknowledgementsNeverGoBackAndStrangersAreIgnored() {
        var tracker = AckTracker()
        _ = tracker.setBackups(["b"], now: 0)
        _ = tracker.onAcknowledge(backup: "b", sequence: 9, now: 10)
        XCTAssertEqual(tracker.onAcknowledge(backup: "b", sequence: 3, now: 20), [])
        assertBackup(tracker.backups["b"], acknowledged: 9, progressAt: 10, "an old acknowledgement is no progress")
        XCTAssertEqual(tracker.hold(1, sequence: 10), [])
        XCTAssertEqual(tracker.onAcknowledge(backup: "x", sequence: 100, now: 30), [], "not a backup of this partition")
        XCTAssertNil(tracker.backups["x"])
        XCTAssertEqual(tracker.waitingCount, 1)
    }

    func testABackupThatNeverAcknowledgedDoesNotHoldWrites() {
        var tracker = AckTracker()
        _ = tracker.setBackups(["b", "new"], now: 0)
        _ = tracker.onAcknowledge(backup: "b", sequence: 0, now: 0)
        XCTAssertEqual(tracker.hold(1, sequence: 1), [], "b is in sync (it installed an empty snapshot)")
        XCTAssertEqual(tracker.onAcknowledge(backup: "b", sequence: 1, now: 1), [1], "released without a word from the catching-up backup")
        assertBackup(tracker.backups["new"], acknowledged: nil, progressAt: 0)
        // Once it acknowledged (its snapshot installed), it counts.
        _ = tracker.onAcknowledge(backup: "new", sequence: 1, now: 2)
        XCTAssertEqual(tracker.hold(2, sequence: 2), [])
        XCTAssertEqual(tracker.onAcknowledge(backup: "b", sequence: 2, now: 3), [])
        XCTAssertEqual(tracker.onAcknowledge(backup: "new", sequence: 2, now: 3), [2])
        // Only catching-up backups: nothing waits.
        var fresh = AckTracker()
        _ = fresh.setBackups(["x", "y"], now: 0)
        XCTAssertEqual(fresh.hold(7, sequence: 100), [7])
    }

    func testRemovingASlowBackupReleasesWhatOnlyItHeld() {
        var tracker = AckTracker()
        _ = tracker.setBackups(["fast", "slow"], now: 0)
        _ = tracker.onAcknowledge(backup: "fast", sequence: 0, now: 0)
        _ = tracker.onAcknowledge(backup: "slow", sequence: 0, now: 0)
        XCTAssertEqual(tracker.hold(1, sequence: 1), [])
        XCTAssertEqual(tracker.hold(2, sequence: 2), [])
        XCTAssertEqual(tracker.hold(3, sequence: 3), [])
        XCTAssertEqual(tracker.onAcknowledge(backup: "fast", sequence: 2, now: 5), [])
        XCTAssertEqual(tracker.setBackups(["fast"], now: 6), [1, 2], "3 still waits for fast")
        XCTAssertNil(tracker.backups["slow"])
        XCTAssertEqual(tracker.onAcknowledge(backup: "fast", sequence: 3, now: 7), [3])
        // A backup re-added later starts over: catching up, holding nothing.
        _ = tracker.setBackups(["fast", "slow"], now: 8)
        assertBackup(tracker.backups["slow"], acknowledged: nil, progressAt: 8)
        assertBackup(tracker.backups["fast"], acknowledged: 3, progressAt: 7, "a kept backup keeps its state")
        XCTAssertEqual(tracker.setBackups([], now: 9), [])
        XCTAssertEqual(tracker.hold(4, sequence: 4), [4])
    }

    func testAbandonReturnsEveryWaitingToken() {
        var tracker = AckTracker()
        _ = tracker.setBackups(["b"], now: 0)
        _ = tracker.onAcknowledge(backup: "b", sequence: 0, now: 0)
        for token in 1...5 { XCTAssertEqual(tracker.hold(token, sequence: UInt64(token)), []) }
        XCTAssertEqual(tracker.onAcknowledge(backup: "b", sequence: 2, now: 1), [1, 2])
        XCTAssertEqual(tracker.abandon(), [3, 4, 5])
        XCTAssertEqual(tracker.waitingCount, 0)
        XCTAssertEqual(tracker.abandon(), [])
        XCTAssertEqual(tracker.onAcknowledge(backup: "b", sequence: 5, now: 2), [], "abandoned tokens are never released")
    }

    func testManyHoldsReleaseInOrder() {
        var tracker = AckTracker()
        _ = tracker.setBackups(["b"], now: 0)
        _ = tracker.onAcknowledge(backup: "b", sequence: 0, now: 0)
        var released: [Int] = []
        var random = SplitMix64(seed: 0xAC4)
        var acknowledged: UInt64 = 0
        for sequence in 1...5_000 {
            XCTAssertEqual(tracker.hold(sequence, sequence: UInt64(sequence)), [])
            if random.below(4) == 0 {
                acknowledged = UInt64(random.below(sequence - Int(acknowledged) + 1)) + acknowledged
                released += tracker.onAcknowledge(backup: "b", sequence: acknowledged, now: UInt64(sequence))
                XCTAssertEqual(released, Array(1...max(1, Int(acknowledged))).filter { $0 <= Int(acknowledged) })
                XCTAssertEqual(tracker.waitingCount, sequence - Int(acknowledged))
            }
        }
        released += tracker.onAcknowledge(backup: "b", sequence: 5_000, now: 9_999)
        XCTAssertEqual(released, Array(1...5_000))
        XCTAssertEqual(tracker.waitingCount, 0)
    }

    // MARK: - Lag

    func testStalledReportsAQuietBackupOncePerQuietPeriod() {
        var tracker = AckTracker()
        _ = tracker.setBackups(["b", "c", "new"], now: 0)
        _ = tracker.onAcknowledge(backup: "b", sequence: 3, now: 100)
        _ = tracker.onAcknowledge(backup: "c", sequence: 5, now: 100)
        XCTAssertTrue(tracker.stalled(newest: 5, now: 250, quietMilliseconds: 200).isEmpty, "not quiet long enough")
        let stalled = tracker.stalled(newest: 5, now: 300, quietMilliseconds: 200)
        XCTAssertEqual(stalled.map(\.backup), ["b"], "c is up to date; new is catching up by snapshot")
        XCTAssertEqual(stalled.map(\.from), [4])
        XCTAssertTrue(tracker.stalled(newest: 5, now: 301, quietMilliseconds: 200).isEmpty, "once per quiet period")
        XCTAssertTrue(tracker.stalled(newest: 5, now: 499, quietMilliseconds: 200).isEmpty)
        XCTAssertEqual(tracker.stalled(newest: 5, now: 500, quietMilliseconds: 200).map(\.from), [4], "again after another quiet period")
        _ = tracker.onAcknowledge(backup: "b", sequence: 4, now: 510)
        XCTAssertTrue(tracker.stalled(newest: 5, now: 600, quietMilliseconds: 200).isEmpty, "progress restarts the quiet period")
        let both = tracker.stalled(newest: 9, now: 710, quietMilliseconds: 200)
        XCTAssertEqual(both.map(\.backup), ["b", "c"], "sorted by name")
        XCTAssertEqual(both.map(\.from), [5, 6])
    }

    func testBehindAndOldestUnacknowledged() {
        var tracker = AckTracker()
        _ = tracker.setBackups(["b", "c"], now: 0)
        XCTAssertEqual(tracker.behind(newest: 10), 10, "a backup still catching up counts from 0")
        XCTAssertEqual(tracker.oldestUnacknowledged(newest: 10), 1)
        _ = tracker.onAcknowledge(backup: "b", sequence: 8, now: 1)
        _ = tracker.onAcknowledge(backup: "c", sequence: 6, now: 1)
        XCTAssertEqual(tracker.behind(newest: 10), 4, "the slowest backup")
        XCTAssertEqual(tracker.oldestUnacknowledged(newest: 10), 7)
        _ = tracker.onAcknowledge(backup: "c", sequence: 10, now: 2)
        XCTAssertEqual(tracker.behind(newest: 10), 2)
        XCTAssertEqual(tracker.oldestUnacknowledged(newest: 10), 9)
        _ = tracker.onAcknowledge(backup: "b", sequence: 10, now: 3)
        XCTAssertEqual(tracker.behind(newest: 10), 0)
        XCTAssertNil(tracker.oldestUnacknowledged(newest: 10), "everything acknowledged")
        XCTAssertEqual(tracker.behind(newest: 0), 0)
        XCTAssertNil(tracker.oldestUnacknowledged(newest: 0))
    }
}
