import GridCore
import XCTest

/// A primary's bounded log of recent changes: what catch-ups and resends are served from.
final class ReplicationLogTests: XCTestCase {
    private func change(_ sequence: UInt64, partition: Int = 0, epoch: UInt64 = 1) -> Change {
        Change(partition: partition, epoch: epoch, sequence: sequence, key: bytes("k\(sequence % 7)"), version: sequence, kind: .put,
               value: bytes("v\(sequence)"))
    }

    private func sequences(_ changes: [Change]?) -> [UInt64]? { changes.map { $0.map(\.sequence) } }

    func testAnEmptyLog() {
        let log = ReplicationLog(capacity: 4)
        XCTAssertEqual(log.capacity, 4)
        XCTAssertEqual(log.count, 0)
        XCTAssertEqual(log.newest, 0)
        XCTAssertEqual(log.oldest, 0)
        XCTAssertEqual(sequences(log.changes(from: 1)), [], "nothing newer than what the follower has")
        XCTAssertNil(log.changes(from: 0), "an empty log cannot serve from 0")
        XCTAssertNil(log.time(of: 0))
        XCTAssertNil(log.time(of: 1))
        XCTAssertEqual(ReplicationLog().capacity, 256, "the default")
    }

    func testWithinCapacity() {
        var log = ReplicationLog(capacity: 8)
        for sequence in UInt64(1)...5 { log.append(change(sequence), at: sequence * 10) }
        XCTAssertEqual(log.count, 5)
        XCTAssertEqual(log.oldest, 1)
        XCTAssertEqual(log.newest, 5)
        XCTAssertEqual(sequences(log.changes(from: 1)), [1, 2, 3, 4, 5])
        XCTAssertEqual(sequences(log.changes(from: 3)), [3, 4, 5])
        XCTAssertEqual(sequences(log.changes(from: 5)), [5])
        XCTAssertEqual(sequences(log.changes(from: 6)), [], "from beyond the newest: up to date")
        XCTAssertEqual(sequences(log.changes(from: 600)), [])
        XCTAssertNil(log.changes(from: 0), "sequence 0 is not a change")
        XCTAssertEqual(log.changes(from: 4), [change(4), change(5)], "the changes themselves, not copies with other fields")
        XCTAssertEqual(log.time(of: 1), 10)
        XCTAssertEqual(log.time(of: 5), 50)
        XCTAssertNil(log.time(of: 6))
        XCTAssertNil(log.time(of: 0))
    }

    func testBeyondCapacityItNoLongerReachesBack() {
        var log = ReplicationLog(capacity: 4)
        for sequence in UInt64(1)...10 { log.append(change(sequence), at: 100 + sequence) }
        XCTAssertEqual(log.count, 4)
        XCTAssertEqual(log.oldest, 7)
        XCTAssertEqual(log.newest, 10)
        XCTAssertEqual(sequences(log.changes(from: 7)), [7, 8, 9, 10])
        XCTAssertEqual(sequences(log.changes(from: 9)), [9, 10])
        XCTAssertEqual(sequences(log.changes(from: 11)), [])
        for from in UInt64(0)...6 {
            XCTAssertNil(log.changes(from: from), "from \(from): a snapshot is needed")
        }
        XCTAssertNil(log.time(of: 6), "forgotten")
        XCTAssertEqual(log.time(of: 7), 107)
        XCTAssertEqual(log.time(of: 10), 110)
    }

    func testWrapsAroundManyTimes() {
        var random = SplitMix64(seed: 0x106)
        for capacity in [1, 2, 3, 7, 16] {
            var log = ReplicationLog(capacity: capacity)
            for sequence in UInt64(1)...1_000 {
                log.append(change(sequence), at: sequence * 3)
                XCTAssertEqual(log.newest, sequence)
                XCTAssertEqual(log.count, min(Int(sequence), capacity))
                XCTAssertEqual(log.oldest, sequence - UInt64(log.count) + 1)
                // A random follower position: served exactly when the log reaches back to it.
                let from = UInt64(random.below(Int(sequence) + 2))
                let served = log.changes(from: from)
                if from > sequence {
                    XCTAssertEqual(sequences(served), [], "capacity \(capacity) at \(sequence), from \(from)")
                } else if from >= log.oldest {
                    XCTAssertEqual(sequences(served), Array(from...sequence), "capacity \(capacity) at \(sequence), from \(from)")
                    XCTAssertEqual(served?.first, change(from))
                } else {
                    XCTAssertNil(served, "capacity \(capacity) at \(sequence), from \(from)")
                }
                XCTAssertEqual(log.time(of: log.oldest), log.oldest * 3)
                XCTAssertEqual(log.time(of: sequence), sequence * 3)
            }
        }
    }

    func testLogsThatStartPastZero() {
        // A promoted primary's log starts at its next sequence.
        var log = ReplicationLog(capacity: 3)
        log.append(change(41), at: 5)
        log.append(change(42), at: 6)
        XCTAssertEqual(log.oldest, 41)
        XCTAssertEqual(sequences(log.changes(from: 41)), [41, 42])
        XCTAssertEqual(sequences(log.changes(from: 43)), [])
        XCTAssertNil(log.changes(from: 40))
        XCTAssertNil(log.changes(from: 1))
    }

    func testReset() {
        var log = ReplicationLog(capacity: 3)
        for sequence in UInt64(1)...5 { log.append(change(sequence), at: sequence) }
        log.reset()
        XCTAssertEqual(log.count, 0)
        XCTAssertEqual(log.newest, 0)
        XCTAssertNil(log.time(of: 5))
        // After a reset the history may restart anywhere.
        log.append(change(100), at: 9)
        XCTAssertEqual(log.oldest, 100)
        XCTAssertEqual(sequences(log.changes(from: 100)), [100])
        XCTAssertEqual(log.time(of: 100), 9)
    }
}
