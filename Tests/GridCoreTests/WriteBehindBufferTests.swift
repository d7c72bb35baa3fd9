import GridCore
import XCTest

/// The mirror's core: coalescing, batch boundaries, one batch at a time, retry
/// with back-off, watermarks, gaps; and, above all, that a crash at any point
/// loses nothing and applies nothing twice.
final class WriteBehindBufferTests: XCTestCase {
    private typealias Buffer = WriteBehindBuffer
    private typealias Directive = WriteBehindBuffer.Directive
    private typealias Batch = WriteBehindBuffer.Batch
    private typealias Row = WriteBehindBuffer.Row

    private func buffer(maximumBatch: Int = 4, maximumDelay: UInt64 = 100, retryBase: UInt64 = 100, retryMaximum: UInt64 = 10_000, watermarks: [Int: UInt64] = [:]) -> Buffer {
        Buffer(section: "account", maximumBatch: maximumBatch, maximumDelayMilliseconds: maximumDelay,
               retryBaseMilliseconds: retryBase, retryMaximumMilliseconds: retryMaximum, watermarks: watermarks)
    }

    /// A change of `partition` at `sequence`; a nil value is a delete.
    private func change(_ partition: Int, _ sequence: UInt64, _ key: String, _ value: String?) -> Change {
        Change(partition: partition, epoch: 1, sequence: sequence, key: bytes(key), version: sequence,
               kind: value == nil ? .delete : .put, value: value.map(bytes) ?? [])
    }

    private func row(_ partition: Int, _ key: String, _ value: String?, _ version: UInt64) -> Row {
        Row(section: "account", partition: partition, key: bytes(key), value: value.map(bytes), version: version)
    }

    /// The batches among `directives`.
    private func flushed(_ directives: [Directive]) -> [Batch] {
        directives.compactMap { if case .flush(let batch) = $0 { batch } else { nil } }
    }

    /// The single batch flushed by `directives` (fails the test when there is not exactly one).
    private func onlyBatch(_ directives: [Directive], file: StaticString = #filePath, line: UInt = #line) -> Batch? {
        let batches = flushed(directives)
        XCTAssertEqual(batches.count, 1, "expected one flush in \(directives)", file: file, line: line)
        return batches.first
    }

    // MARK: - Coalescing

    func testPutAfterPutKeepsOnlyTheNewest() {
        var buffer = buffer(maximumDelay: 50)
        XCTAssertEqual(buffer.onChange(change(0, 1, "a", "1"), now: 0), [])
        XCTAssertEqual(buffer.onChange(change(0, 2, "a", "2"), now: 10), [])
        let batch = onlyBatch(buffer.onTick(now: 50))
        XCTAssertEqual(batch?.rows, [row(0, "a", "2", 2)])
        XCTAssertEqual(batch?.watermarks, [0: 2])
        XCTAssertEqual(batch?.changes, 2)
        XCTAssertEqual(batch?.id, 1)
        XCTAssertEqual(batch?.attempt, 1)
    }

    func testDeleteAfterPutKeepsTheDelete() {
        var buffer = buffer(maximumDelay: 50)
        _ = buffer.onChange(change(0, 1, "a", "1"), now: 0)
        _ = buffer.onChange(change(0, 2, "a", nil), now: 0)
        let batch = onlyBatch(buffer.onTick(now: 50))
        XCTAssertEqual(batch?.rows, [row(0, "a", nil, 2)])
        XCTAssertEqual(batch?.watermarks, [0: 2])
    }

    func testPutAfterDeleteKeepsThePut() {
        var buffer = buffer(maximumDelay: 50, watermarks: [0: 4])
        _ = buffer.onChange(change(0, 5, "a", nil), now: 0)
        _ = buffer.onChange(change(0, 6, "b", "x"), now: 0)
        _ = buffer.onChange(change(0, 7, "a", "back"), now: 0)
        let batch = onlyBatch(buffer.onTick(now: 50))
        // Rows keep the order of the keys' first writes; the watermark is the highest sequence.
        XCTAssertEqual(batch?.rows, [row(0, "a", "back", 7), row(0, "b", "x", 6)])
        XCTAssertEqual(batch?.watermarks, [0: 7])
        XCTAssertEqual(batch?.changes, 3)
    }

    func testTheSameKeyInTwoPartitionsIsNotCoalesced() {
        var buffer = buffer(maximumDelay: 50)
        _ = buffer.onChange(change(0, 1, "a", "p0"), now: 0)
        _ = buffer.onChange(change(1, 1, "a", "p1"), now: 0)
        let batch = onlyBatch(buffer.onTick(now: 50))
        XCTAssertEqual(batch?.rows, [row(0, "a", "p0", 1), row(1, "a", "p1", 1)])
        XCTAssertEqual(batch?.watermarks, [0: 1, 1: 1])
    }

    // MARK: - Batch boundaries

    func testExactlyMaximumBatchKeysFlushAtOnce() {
        var buffer = buffer(maximumBatch: 3, maximumDelay: 1_000)
        XCTAssertEqual(buffer.onChange(change(0, 1, "a", "1"), now: 0), [])
        XCTAssertEqual(buffer.onChange(change(0, 2, "b", "1"), now: 0), [])
        let batch = onlyBatch(buffer.onChange(change(0, 3, "c", "1"), now: 0))
        XCTAssertEqual(batch?.rows.map { text($0.key) }, ["a", "b", "c"])
        XCTAssertEqual(batch?.watermarks, [0: 3])
        XCTAssertTrue(buffer.inFlight)
    }

    func testOneMoreKeyStartsTheNextBatch() {
        var buffer = buffer(maximumBatch: 3, maximumDelay: 1_000)
        for (index, key) in ["a", "b", "c", "d"].enumerated() { _ = buffer.onChange(change(0, UInt64(index + 1), key, "1"), now: 0) }
        XCTAssertEqual(buffer.pendingRows, 4)
        // "d" waits for the next batch: neither full nor old, and one is in flight anyway.
        let next = onlyBatch(buffer.onBatchCommitted(id: 1, now: 1_000))
        XCTAssertEqual(next?.rows, [row(0, "d", "1", 4)])
        XCTAssertEqual(next?.watermarks, [0: 4])
        XCTAssertEqual(next?.id, 2)
    }

    func testCoalescedWritesDoNotCountTowardsTheBatchSize() {
        var buffer = buffer(maximumBatch: 2, maximumDelay: 1_000)
        XCTAssertEqual(buffer.onChange(change(0, 1, "a", "1"), now: 0), [])
        XCTAssertEqual(buffer.onChange(change(0, 2, "a", "2"), now: 0), [])
        XCTAssertEqual(buffer.onChange(change(0, 3, "a", "3"), now: 0), [])
        let batch = onlyBatch(buffer.onChange(change(0, 4, "b", "1"), now: 0))
        XCTAssertEqual(batch?.rows, [row(0, "a", "3", 3), row(0, "b", "1", 4)])
        XCTAssertEqual(batch?.changes, 4)
    }

    func testDelayBoundary() {
        var buffer = buffer(maximumBatch: 100, maximumDelay: 200)
        _ = buffer.onChange(change(0, 1, "a", "1"), now: 1_000)
        XCTAssertEqual(buffer.onTick(now: 1_199), [])
        XCTAssertEqual(onlyBatch(buffer.onTick(now: 1_200))?.rows, [row(0, "a", "1", 1)])
    }

    func testTheDelayRunsFromTheOldestChangeEvenWhenItWasCoalesced() {
        var buffer = buffer(maximumBatch: 100, maximumDelay: 200)
        _ = buffer.onChange(change(0, 1, "a", "1"), now: 1_000)
        _ = buffer.onChange(change(0, 2, "a", "2"), now: 1_150)
        XCTAssertEqual(buffer.onTick(now: 1_199), [])
        XCTAssertEqual(onlyBatch(buffer.onTick(now: 1_200))?.rows, [row(0, "a", "2", 2)])
    }

    func testAChangeArrivingAfterTheDelayFlushesWithoutWaitingForATick() {
        var buffer = buffer(maximumBatch: 100, maximumDelay: 200)
        _ = buffer.onChange(change(0, 1, "a", "1"), now: 1_000)
        let batch = onlyBatch(buffer.onChange(change(0, 2, "b", "1"), now: 1_300))
        XCTAssertEqual(batch?.rows.count, 2)
    }

    func testZeroDelayFlushesEveryChangeWhenNothingIsInFlight() {
        var buffer = buffer(maximumBatch: 100, maximumDelay: 0)
        XCTAssertEqual(onlyBatch(buffer.onChange(change(0, 1, "a", "1"), now: 5))?.rows.count, 1)
    }

    func testTicksWithNothingPendingDoNothing() {
        var buffer = buffer()
        XCTAssertEqual(buffer.onTick(now: 0), [])
        XCTAssertEqual(buffer.onTick(now: 1_000_000), [])
        XCTAssertTrue(buffer.isIdle)
    }

    // MARK: - One batch at a time

    func testOnlyOneBatchIsInFlightWhileChangesAccumulate() {
        var buffer = buffer(maximumBatch: 2, maximumDelay: 100)
        _ = buffer.onChange(change(0, 1, "a", "1"), now: 0)
        XCTAssertNotNil(onlyBatch(buffer.onChange(change(0, 2, "b", "1"), now: 0)))
        // A full batch's worth, then the full batch's own key again (it may still coalesce,
        // being the last), then a new key, and a long wait: nothing while batch 1 is out.
        XCTAssertEqual(buffer.onChange(change(0, 3, "c", "1"), now: 10), [])
        XCTAssertEqual(buffer.onChange(change(0, 4, "d", "1"), now: 10), [])
        XCTAssertEqual(buffer.onChange(change(0, 5, "c", "2"), now: 10), [])
        XCTAssertEqual(buffer.onChange(change(0, 6, "e", "1"), now: 10), [])
        XCTAssertEqual(buffer.onTick(now: 10_000), [])
        XCTAssertTrue(buffer.inFlight)

        let second = onlyBatch(buffer.onBatchCommitted(id: 1, now: 10_000))
        XCTAssertEqual(second?.rows, [row(0, "c", "2", 5), row(0, "d", "1", 4)])
        XCTAssertEqual(second?.watermarks, [0: 5])
        XCTAssertEqual(second?.changes, 3)
        let third = onlyBatch(buffer.onBatchCommitted(id: 2, now: 10_000))
        XCTAssertEqual(third?.rows, [row(0, "e", "1", 6)])
    }

    func testCoalescingNeverReachesIntoAnEarlierBatch() {
        var buffer = buffer(maximumBatch: 2, maximumDelay: 100)
        _ = buffer.onChange(change(0, 1, "a", "1"), now: 0)
        _ = buffer.onChange(change(0, 2, "b", "1"), now: 0)          // batch 1 out
        _ = buffer.onChange(change(0, 3, "c", "1"), now: 0)
        _ = buffer.onChange(change(0, 4, "d", "1"), now: 0)          // segment 2 full
        _ = buffer.onChange(change(0, 5, "e", "1"), now: 0)          // segment 3 opens
        _ = buffer.onChange(change(0, 6, "c", "2"), now: 0)          // c again: into segment 3, not 2
        let second = onlyBatch(buffer.onBatchCommitted(id: 1, now: 0))
        XCTAssertEqual(second?.rows, [row(0, "c", "1", 3), row(0, "d", "1", 4)])
        XCTAssertEqual(second?.watermarks, [0: 4])
        let third = onlyBatch(buffer.onBatchCommitted(id: 2, now: 0))
        XCTAssertEqual(third?.rows, [row(0, "e", "1", 5), row(0, "c", "2", 6)])
        XCTAssertEqual(third?.watermarks, [0: 6])
    }

    func testCommitAdvancesWatermarksAndFlushesTheNextDueBatch() {
        var buffer = buffer(maximumBatch: 10, maximumDelay: 100, watermarks: [0: 3, 1: 9])
        _ = buffer.onChange(change(0, 4, "a", "1"), now: 0)
        let first = onlyBatch(buffer.onTick(now: 100))
        _ = buffer.onChange(change(1, 10, "z", "1"), now: 150)
        XCTAssertEqual(buffer.watermark(of: 0), 3)
        // Not due yet at 200: the commit flushes nothing; a tick does later.
        XCTAssertEqual(buffer.onBatchCommitted(id: first!.id, now: 200), [])
        XCTAssertEqual(buffer.watermark(of: 0), 4)
        XCTAssertEqual(buffer.watermark(of: 1), 9)
        XCTAssertFalse(buffer.inFlight)
        let second = onlyBatch(buffer.onTick(now: 250))
        XCTAssertEqual(second?.watermarks, [1: 10])
        // Due by the time the commit arrives: flushed at once.
        _ = buffer.onChange(change(0, 5, "b", "1"), now: 260)
        let third = onlyBatch(buffer.onBatchCommitted(id: second!.id, now: 400))
        XCTAssertEqual(third?.rows, [row(0, "b", "1", 5)])
        XCTAssertEqual(buffer.watermarks, [0: 4, 1: 10])
    }

    func testCommitOrFailureOfAnotherBatchIsIgnored() {
        var buffer = buffer(maximumBatch: 1)
        let batch = onlyBatch(buffer.onChange(change(0, 1, "a", "1"), now: 0))!
        XCTAssertEqual(buffer.onBatchCommitted(id: batch.id + 1, now: 0), [])
        XCTAssertEqual(buffer.onBatchFailed(id: batch.id + 1, error: "?", now: 0), [])
        XCTAssertEqual(buffer.watermark(of: 0), 0)
        XCTAssertTrue(buffer.inFlight)
        XCTAssertEqual(buffer.onBatchCommitted(id: batch.id, now: 0), [])
        XCTAssertEqual(buffer.watermark(of: 0), 1)
        // A late second report of the same batch changes nothing.
        XCTAssertEqual(buffer.onBatchCommitted(id: batch.id, now: 0), [])
        XCTAssertEqual(buffer.onBatchFailed(id: batch.id, error: "late", now: 0), [])
        XCTAssertEqual(buffer.consecutiveFailures, 0)
    }

    // MARK: - Failure and retry

    func testAFailedBatchIsKeptAndWrittenAgainUnchangedAfterTheBackOff() {
        var buffer = buffer(maximumBatch: 2, retryBase: 100)
        _ = buffer.onChange(change(0, 1, "a", "1"), now: 0)
        let batch = onlyBatch(buffer.onChange(change(0, 2, "b", "1"), now: 0))!
        XCTAssertEqual(buffer.onBatchFailed(id: batch.id, error: "database is locked", now: 1_000), [.retryAt(1_100)])
        XCTAssertFalse(buffer.inFlight)
        XCTAssertEqual(buffer.retryingAt, 1_100)
        XCTAssertEqual(buffer.consecutiveFailures, 1)
        XCTAssertEqual(buffer.lastError, "database is locked")
        XCTAssertEqual(buffer.pendingChanges, 2)
        XCTAssertEqual(buffer.watermark(of: 0), 0)
        XCTAssertEqual(buffer.onTick(now: 1_099), [])
        let retry = onlyBatch(buffer.onTick(now: 1_100))
        XCTAssertEqual(retry?.id, batch.id)
        XCTAssertEqual(retry?.rows, batch.rows)
        XCTAssertEqual(retry?.watermarks, batch.watermarks)
        XCTAssertEqual(retry?.attempt, 2)
        XCTAssertTrue(buffer.inFlight)
        XCTAssertNil(buffer.retryingAt)
        XCTAssertEqual(buffer.onBatchCommitted(id: batch.id, now: 1_200), [])
        XCTAssertEqual(buffer.watermark(of: 0), 2)
        XCTAssertEqual(buffer.consecutiveFailures, 0)
        XCTAssertNil(buffer.lastError)
        XCTAssertEqual(buffer.pendingChanges, 0)
    }

    func testBackOffDoublesUpToTheMaximumAndResetsAfterSuccess() {
        var buffer = buffer(maximumBatch: 1, retryBase: 100, retryMaximum: 1_000)
        let id = onlyBatch(buffer.onChange(change(0, 1, "a", "1"), now: 0))!.id
        var now: UInt64 = 0
        var waits: [UInt64] = []
        for _ in 0..<7 {
            guard case .retryAt(let at)? = buffer.onBatchFailed(id: id, error: "down", now: now).first else { return XCTFail("no retry") }
            waits.append(at - now)
            XCTAssertEqual(buffer.onTick(now: at - 1), [])
            XCTAssertEqual(onlyBatch(buffer.onTick(now: at))?.id, id)
            now = at
        }
        XCTAssertEqual(waits, [100, 200, 400, 800, 1_000, 1_000, 1_000])
        XCTAssertEqual(buffer.consecutiveFailures, 7)
        _ = buffer.onBatchCommitted(id: id, now: now)
        XCTAssertEqual(buffer.consecutiveFailures, 0)
        // The next failure starts from the base again.
        let next = onlyBatch(buffer.onChange(change(0, 2, "b", "1"), now: now))!
        XCTAssertEqual(buffer.onBatchFailed(id: next.id, error: "down", now: now), [.retryAt(now + 100)])
    }

    func testBackOffArithmeticDoesNotOverflow() {
        let buffer = buffer(retryBase: 100, retryMaximum: 10_000)
        XCTAssertEqual(buffer.backOff(failures: 0), 0)
        XCTAssertEqual(buffer.backOff(failures: 1), 100)
        XCTAssertEqual(buffer.backOff(failures: 7), 6_400)
        XCTAssertEqual(buffer.backOff(failures: 8), 10_000)
        XCTAssertEqual(buffer.backOff(failures: 64), 10_000)
        XCTAssertEqual(buffer.backOff(failures: 1_000_000), 10_000)
        let huge = self.buffer(retryBase: UInt64.max / 2, retryMaximum: UInt64.max)
        XCTAssertEqual(huge.backOff(failures: 2), UInt64.max - 1)
        XCTAssertEqual(huge.backOff(failures: 3), UInt64.max)
    }

    func testChangesDuringBackOffGoIntoLaterBatchesNeverBeforeTheFailedOne() {
        var buffer = buffer(maximumBatch: 2, maximumDelay: 10, retryBase: 500)
        _ = buffer.onChange(change(0, 1, "a", "1"), now: 0)
        let failed = onlyBatch(buffer.onChange(change(0, 2, "b", "1"), now: 0))!
        _ = buffer.onBatchFailed(id: failed.id, error: "down", now: 0)
        // More changes, some to the failed batch's keys, all long due: they wait behind it.
        XCTAssertEqual(buffer.onChange(change(0, 3, "a", "2"), now: 1), [])
        XCTAssertEqual(buffer.onChange(change(0, 4, "c", "1"), now: 2), [])
        XCTAssertEqual(buffer.onChange(change(0, 5, "d", "1"), now: 3), [])
        XCTAssertEqual(buffer.onTick(now: 499), [])
        XCTAssertEqual(buffer.pendingChanges, 5)
        XCTAssertEqual(buffer.pendingRows, 5)
        let retry = onlyBatch(buffer.onTick(now: 500))
        XCTAssertEqual(retry?.rows, failed.rows)
        let next = onlyBatch(buffer.onBatchCommitted(id: failed.id, now: 600))
        XCTAssertEqual(next?.rows, [row(0, "a", "2", 3), row(0, "c", "1", 4)])
        XCTAssertEqual(next?.watermarks, [0: 4])
        let last = onlyBatch(buffer.onBatchCommitted(id: next!.id, now: 600))
        XCTAssertEqual(last?.rows, [row(0, "d", "1", 5)])
        _ = buffer.onBatchCommitted(id: last!.id, now: 600)
        XCTAssertEqual(buffer.watermark(of: 0), 5)
        XCTAssertTrue(buffer.isIdle)
    }

    func testAFailedBatchIsRetriedByAChangeArrivingAfterItsTime() {
        var buffer = buffer(maximumBatch: 1, retryBase: 100)
        let batch = onlyBatch(buffer.onChange(change(0, 1, "a", "1"), now: 0))!
        _ = buffer.onBatchFailed(id: batch.id, error: "down", now: 0)
        let retry = onlyBatch(buffer.onChange(change(0, 2, "b", "1"), now: 150))
        XCTAssertEqual(retry?.id, batch.id)
    }

    // MARK: - Watermarks, duplicates and gaps

    func testChangesAtOrBelowTheWatermarkAreIgnoredAndCounted() {
        var buffer = buffer(maximumBatch: 1, watermarks: [0: 5])
        XCTAssertEqual(buffer.onChange(change(0, 3, "a", "1"), now: 0), [])
        XCTAssertEqual(buffer.onChange(change(0, 5, "a", "1"), now: 0), [])
        XCTAssertEqual(buffer.duplicates, 2)
        XCTAssertEqual(buffer.pendingChanges, 0)
        XCTAssertTrue(buffer.isIdle)
        XCTAssertEqual(onlyBatch(buffer.onChange(change(0, 6, "a", "1"), now: 0))?.watermarks, [0: 6])
    }

    func testChangesAtOrBelowWhatIsBufferedAreIgnoredAndCounted() {
        var buffer = buffer(maximumBatch: 10)
        _ = buffer.onChange(change(0, 1, "a", "1"), now: 0)
        _ = buffer.onChange(change(0, 2, "a", "2"), now: 0)
        XCTAssertEqual(buffer.onChange(change(0, 2, "a", "2"), now: 0), [])
        XCTAssertEqual(buffer.onChange(change(0, 1, "a", "1"), now: 0), [])
        XCTAssertEqual(buffer.duplicates, 2)
        XCTAssertEqual(buffer.pendingChanges, 2)
        XCTAssertEqual(buffer.acceptedSequence(of: 0), 2)
        XCTAssertEqual(onlyBatch(buffer.onTick(now: 100))?.rows, [row(0, "a", "2", 2)])
    }

    func testAGapIsReportedOnceAndFilledByTheReplay() {
        var buffer = buffer(maximumBatch: 10, maximumDelay: 100, watermarks: [0: 5])
        XCTAssertEqual(buffer.onChange(change(0, 8, "c", "1"), now: 0), [.missing(partition: 0, from: 6)])
        XCTAssertEqual(buffer.onChange(change(0, 9, "d", "1"), now: 10), [])
        XCTAssertEqual(buffer.onChange(change(0, 9, "d", "1"), now: 10), [])  // kept aside already
        XCTAssertEqual(buffer.gaps, 1)
        XCTAssertEqual(buffer.duplicates, 1)
        XCTAssertEqual(buffer.heldAside, 2)
        XCTAssertEqual(buffer.pendingChanges, 0)
        XCTAssertEqual(buffer.openGaps, [0: 6])
        // Nothing beyond the gap is written while it is open, however old.
        XCTAssertEqual(buffer.onTick(now: 500), [])
        // The replay from 6 on: 6 and 7 connect, 8 and 9 follow from the side; the replayed 8 and 9 are duplicates.
        let directives = buffer.onChanges([change(0, 6, "a", "1"), change(0, 7, "b", "1"), change(0, 8, "c", "1"), change(0, 9, "d", "1")], now: 600)
        XCTAssertEqual(flushed(directives).count, 1)
        XCTAssertFalse(directives.contains { if case .missing = $0 { true } else { false } })
        XCTAssertEqual(flushed(directives).first?.rows.map { text($0.key) }, ["a", "b", "c", "d"])
        XCTAssertEqual(flushed(directives).first?.watermarks, [0: 9])
        XCTAssertEqual(buffer.heldAside, 0)
        XCTAssertEqual(buffer.duplicates, 3)
        XCTAssertEqual(buffer.openGaps, [:])
        XCTAssertEqual(buffer.gaps, 1)
    }

    func testAPartlyFilledGapIsNotAskedForAgainUntilTheReplayStalls() {
        var buffer = buffer(maximumBatch: 100, maximumDelay: 100_000)
        XCTAssertEqual(buffer.onChange(change(0, 5, "e", "1"), now: 0), [.missing(partition: 0, from: 1)])
        XCTAssertEqual(buffer.onChange(change(0, 1, "a", "1"), now: 500), [])
        XCTAssertEqual(buffer.onChange(change(0, 2, "b", "1"), now: 900), [])
        // No progress for the retry interval since 900: ask again from where it stands.
        XCTAssertEqual(buffer.onTick(now: 900 + Buffer.missingRetryMilliseconds - 1), [])
        XCTAssertEqual(buffer.onTick(now: 900 + Buffer.missingRetryMilliseconds), [.missing(partition: 0, from: 3)])
        XCTAssertEqual(buffer.onTick(now: 900 + Buffer.missingRetryMilliseconds + 1), [])
        XCTAssertEqual(buffer.gaps, 1)
        _ = buffer.onChanges([change(0, 3, "c", "1"), change(0, 4, "d", "1")], now: 3_000)
        XCTAssertEqual(buffer.acceptedSequence(of: 0), 5)
        XCTAssertEqual(buffer.openGaps, [:])
        // A second gap later is a new one.
        XCTAssertEqual(buffer.onChange(change(0, 7, "g", "1"), now: 3_000), [.missing(partition: 0, from: 6)])
        XCTAssertEqual(buffer.gaps, 2)
    }

    func testChangesLostAtTheEndOfAStreamAreNoticedFromTheNewestSequence() {
        var buffer = buffer(maximumBatch: 100, watermarks: [2: 10])
        _ = buffer.onChange(change(2, 11, "a", "1"), now: 0)
        XCTAssertEqual(buffer.onNewest(partition: 2, sequence: 11, now: 0), [])
        XCTAssertEqual(buffer.onNewest(partition: 2, sequence: 13, now: 0), [.missing(partition: 2, from: 12)])
        XCTAssertEqual(buffer.onNewest(partition: 2, sequence: 14, now: 0), [])
        XCTAssertEqual(buffer.openGaps, [2: 12])
        XCTAssertFalse(buffer.isIdle)
        _ = buffer.onChanges([change(2, 12, "b", "1"), change(2, 13, "c", "1")], now: 10)
        XCTAssertEqual(buffer.openGaps, [2: 14], "14 was announced too")
        _ = buffer.onChange(change(2, 14, "d", "1"), now: 20)
        XCTAssertEqual(buffer.openGaps, [:])
        XCTAssertEqual(buffer.gaps, 1)
    }

    func testBeyondTheLimitChangesAheadAreDroppedAndTheGapStaysOpenUntilTheyArrive() {
        var buffer = buffer(maximumBatch: 100_000, maximumDelay: 100_000)
        XCTAssertEqual(buffer.onChange(change(0, 2, "k", "1"), now: 0), [.missing(partition: 0, from: 1)])
        for sequence in 3...UInt64(Buffer.maximumAhead + 5) {
            XCTAssertEqual(buffer.onChange(change(0, sequence, "k", "\(sequence)"), now: 0), [])
        }
        XCTAssertEqual(buffer.heldAside, Buffer.maximumAhead)
        XCTAssertEqual(buffer.droppedAhead, 4)
        _ = buffer.onChange(change(0, 1, "k", "1"), now: 0)
        let through = UInt64(Buffer.maximumAhead + 1)
        XCTAssertEqual(buffer.acceptedSequence(of: 0), through)
        XCTAssertEqual(buffer.openGaps, [0: through + 1])
        XCTAssertEqual(buffer.heldAside, 0)
        _ = buffer.onChanges((through + 1...through + 4).map { change(0, $0, "k", "\($0)") }, now: 0)
        XCTAssertEqual(buffer.openGaps, [:])
        XCTAssertEqual(buffer.pendingChanges, Buffer.maximumAhead + 5)
        XCTAssertEqual(buffer.pendingRows, 1)
    }

    // MARK: - Backlog figures

    func testBacklogFigures() {
        var buffer = buffer(maximumBatch: 2, maximumDelay: 1_000, retryBase: 100)
        XCTAssertEqual(buffer.pendingChanges, 0)
        XCTAssertEqual(buffer.oldestPendingAge(now: 5_000), 0)
        _ = buffer.onChange(change(0, 1, "a", "1"), now: 1_000)
        _ = buffer.onChange(change(0, 2, "a", "2"), now: 1_100)
        XCTAssertEqual(buffer.pendingChanges, 2, "coalesced changes count: the database has neither")
        XCTAssertEqual(buffer.pendingRows, 1)
        XCTAssertEqual(buffer.oldestPendingAge(now: 1_500), 500)
        XCTAssertFalse(buffer.inFlight)
        let batch = onlyBatch(buffer.onChange(change(0, 3, "b", "1"), now: 1_200))!
        _ = buffer.onChange(change(0, 4, "c", "1"), now: 1_300)
        XCTAssertTrue(buffer.inFlight)
        XCTAssertEqual(buffer.pendingChanges, 4)
        XCTAssertEqual(buffer.pendingRows, 3)
        XCTAssertEqual(buffer.oldestPendingAge(now: 2_000), 1_000, "the batch in flight is not in the database yet")
        _ = buffer.onBatchFailed(id: batch.id, error: "down", now: 2_000)
        XCTAssertFalse(buffer.inFlight)
        XCTAssertEqual(buffer.consecutiveFailures, 1)
        XCTAssertEqual(buffer.pendingChanges, 4)
        _ = buffer.onTick(now: 2_100)
        _ = buffer.onBatchCommitted(id: batch.id, now: 2_200)
        XCTAssertEqual(buffer.pendingChanges, 1)
        XCTAssertEqual(buffer.oldestPendingAge(now: 2_200), 900)
        XCTAssertEqual(buffer.watermark(of: 0), 3)
        XCTAssertEqual(buffer.watermark(of: 7), 0)
        // Changes kept aside beyond a gap count in the age, not in pendingChanges.
        _ = buffer.onChange(change(1, 5, "x", "1"), now: 2_250)
        XCTAssertEqual(buffer.heldAside, 1)
        XCTAssertEqual(buffer.pendingChanges, 1)
        XCTAssertEqual(buffer.oldestPendingAge(now: 2_300), 1_000)
    }

    func testDrainFlushesEverythingWithoutWaitingForTheDelay() {
        var buffer = buffer(maximumBatch: 2, maximumDelay: 60_000)
        _ = buffer.onChange(change(0, 1, "k1", "1"), now: 0)
        let first = onlyBatch(buffer.onChange(change(0, 2, "k2", "1"), now: 0))!
        _ = buffer.onChange(change(0, 3, "k3", "1"), now: 0)
        XCTAssertEqual(buffer.onBatchCommitted(id: first.id, now: 2), [])
        XCTAssertEqual(buffer.onTick(now: 3), [])
        let second = onlyBatch(buffer.onDrain(now: 4))!
        XCTAssertEqual(second.rows, [row(0, "k3", "1", 3)])
        XCTAssertEqual(buffer.onBatchCommitted(id: second.id, now: 5), [])
        // Still draining: a late change goes out at once.
        let third = onlyBatch(buffer.onChange(change(0, 4, "k4", "1"), now: 6))!
        XCTAssertEqual(buffer.onBatchCommitted(id: third.id, now: 7), [])
        XCTAssertTrue(buffer.isIdle)
        XCTAssertEqual(buffer.watermark(of: 0), 4)
    }

    // MARK: - Several partitions

    func testInterleavedPartitionsKeepTheirOwnWatermarks() {
        var buffer = buffer(maximumBatch: 3, maximumDelay: 100, watermarks: [1: 40])
        var directives: [Directive] = []
        directives += buffer.onChange(change(0, 1, "a", "1"), now: 0)
        directives += buffer.onChange(change(1, 41, "x", "1"), now: 0)
        directives += buffer.onChange(change(0, 2, "a", nil), now: 0)
        directives += buffer.onChange(change(2, 1, "m", "1"), now: 0)      // batch 1 full: a, x, m
        directives += buffer.onChange(change(1, 42, "x", "2"), now: 0)     // x again: the next batch
        directives += buffer.onChange(change(1, 40, "old", "1"), now: 0)   // below partition 1's watermark
        XCTAssertEqual(buffer.onChange(change(2, 3, "n", "1"), now: 0), [.missing(partition: 2, from: 2)])
        XCTAssertEqual(buffer.duplicates, 1)
        XCTAssertEqual(buffer.acceptedSequence(of: 0), 2)
        XCTAssertEqual(buffer.acceptedSequence(of: 1), 42)
        XCTAssertEqual(buffer.acceptedSequence(of: 2), 1)

        let first = onlyBatch(directives)
        XCTAssertEqual(first?.rows, [row(0, "a", nil, 2), row(1, "x", "1", 41), row(2, "m", "1", 1)])
        XCTAssertEqual(first?.watermarks, [0: 2, 1: 41, 2: 1])
        XCTAssertEqual(buffer.onBatchCommitted(id: first!.id, now: 50), [])
        let second = onlyBatch(buffer.onTick(now: 100))
        XCTAssertEqual(second?.rows, [row(1, "x", "2", 42)])
        XCTAssertEqual(second?.watermarks, [1: 42])
        XCTAssertEqual(buffer.onBatchCommitted(id: second!.id, now: 100), [])
        XCTAssertEqual(buffer.watermarks, [0: 2, 1: 42, 2: 1])
        // Partition 2's change beyond its gap is still waiting; the replay brings it in.
        XCTAssertEqual(buffer.openGaps, [2: 2])
        XCTAssertEqual(buffer.heldAside, 1)
        // The change kept aside since 0 makes the batch due at once.
        let third = onlyBatch(buffer.onChange(change(2, 2, "m", "2"), now: 100))
        XCTAssertEqual(third?.rows, [row(2, "m", "2", 2), row(2, "n", "1", 3)])
        XCTAssertEqual(third?.watermarks, [2: 3])
    }

    // MARK: - Crash and restart

    /// One partition's history: its changes and the entries after each sequence.
    private struct History {
        var store: PartitionStore
        var changes: [Change] = []
        /// `states[s]`: the entries right after sequence `s` (`states[0]`: empty).
        var states: [EntryTable] = [[:]]

        init(partition: Int) { store = PartitionStore(partition: partition, epoch: 1) }

        mutating func write(_ random: inout SplitMix64) {
            let key = bytes("p\(store.partition)-k\(random.below(6))")
            let change: Change?
            if random.below(4) == 0 { change = store.delete(key) } else { change = store.put(key, bytes("v\(random.next() % 1_000)")) }
            guard let change else { return }
            changes.append(change)
            states.append(store.entries)
        }

        var last: UInt64 { UInt64(changes.count) }
    }

    /// The database behind the mirror: rows by partition and the watermarks, changed together.
    private struct Database {
        var rows: [Int: EntryTable] = [:]
        var watermarks: [Int: UInt64] = [:]
        var commits = 0

        /// One transaction. Checks that nothing in it was applied before and that afterwards
        /// every partition holds exactly its state at its watermark.
        mutating func commit(_ batch: WriteBehindBuffer.Batch, histories: [History], file: StaticString = #filePath, line: UInt = #line) {
            for (partition, sequence) in batch.watermarks {
                XCTAssertGreaterThan(sequence, watermarks[partition] ?? 0, "a watermark went back: applied twice", file: file, line: line)
            }
            for row in batch.rows {
                XCTAssertGreaterThan(row.version, watermarks[row.partition] ?? 0, "a change applied twice", file: file, line: line)
                XCTAssertLessThanOrEqual(row.version, batch.watermarks[row.partition] ?? 0, "a row beyond its batch's watermark", file: file, line: line)
                if let value = row.value {
                    rows[row.partition, default: [:]][row.key] = Entry(value: value, version: row.version)
                } else {
                    rows[row.partition, default: [:]].remove(row.key)
                }
            }
            for (partition, sequence) in batch.watermarks { watermarks[partition] = max(watermarks[partition] ?? 0, sequence) }
            for (partition, sequence) in batch.watermarks {
                XCTAssertEqual(rows[partition] ?? [:], histories[partition].states[Int(sequence)],
                               "partition \(partition) differs from its state at \(sequence)", file: file, line: line)
            }
            commits += 1
        }
    }

    func testACrashAtAnyPointLosesNothingAndAppliesNothingTwice() {
        var random = SplitMix64(seed: 0x5EED_0005)
        var totals = (crashes: 0, commits: 0, failures: 0, gaps: 0, duplicates: 0)
        for round in 0..<300 {
            let partitions = 1 + random.below(4)
            var histories = (0..<partitions).map { History(partition: $0) }
            for _ in 0..<(20 + random.below(300)) { histories[random.below(partitions)].write(&random) }
            let maximumBatch = 1 + random.below(8)
            let maximumDelay = UInt64(random.below(120))

            var database = Database()
            func start() -> WriteBehindBuffer {
                WriteBehindBuffer(section: "account", maximumBatch: maximumBatch, maximumDelayMilliseconds: maximumDelay,
                                  retryBaseMilliseconds: 10, retryMaximumMilliseconds: 80, watermarks: database.watermarks)
            }
            var buffer = start()
            /// Per partition, the next sequence the primary sends (the mirror asked from watermark + 1).
            var cursors = (0..<partitions).map { (database.watermarks[$0] ?? 0) + 1 }
            /// Per partition, the highest sequence the primary has published (what it would announce).
            var published = [UInt64](repeating: 0, count: partitions)
            var inFlight: WriteBehindBuffer.Batch?
            var now: UInt64 = 0

            func carryOut(_ directives: [WriteBehindBuffer.Directive]) {
                for directive in directives {
                    switch directive {
                    case .flush(let batch):
                        XCTAssertNil(inFlight, "two batches in flight (round \(round))")
                        inFlight = batch
                    case .missing(let partition, let from):
                        cursors[partition] = from  // the primary replays from there
                    case .retryAt(let at):
                        XCTAssertGreaterThan(at, now)
                    }
                }
            }
            func crash() {
                totals.crashes += 1
                inFlight = nil
                buffer = start()
                cursors = (0..<partitions).map { (database.watermarks[$0] ?? 0) + 1 }
            }

            // The stream, with drops, duplicates, ticks, failures and crashes at random points.
            var steps = 0
            while cursors.enumerated().contains(where: { $0.element <= histories[$0.offset].last }) && steps < 20_000 {
                steps += 1
                now += UInt64(random.below(25))
                let action = random.below(100)
                switch action {
                case 0..<55:
                    let partition = random.below(partitions)
                    let history = histories[partition]
                    guard cursors[partition] <= history.last else { continue }
                    let sequence = cursors[partition]
                    published[partition] = max(published[partition], sequence)
                    let roll = random.below(20)
                    if roll == 0 {
                        cursors[partition] += 1                     // PUB dropped it
                    } else if roll == 1 {
                        let old = UInt64(1 + random.below(Int(sequence)))
                        carryOut(buffer.onChange(history.changes[Int(old) - 1], now: now))  // a duplicate
                    } else {
                        cursors[partition] += 1
                        carryOut(buffer.onChange(history.changes[Int(sequence) - 1], now: now))
                    }
                case 55..<70:
                    carryOut(buffer.onTick(now: now))
                case 70..<75:
                    let partition = random.below(partitions)
                    carryOut(buffer.onNewest(partition: partition, sequence: published[partition], now: now))
                case 75..<97:
                    guard let batch = inFlight else { continue }
                    if random.below(4) == 0 {
                        totals.failures += 1
                        inFlight = nil
                        carryOut(buffer.onBatchFailed(id: batch.id, error: "database is locked", now: now))
                    } else {
                        database.commit(batch, histories: histories)
                        if random.below(10) == 0 {
                            crash()  // after the transaction, before the mirror heard of it
                        } else {
                            inFlight = nil
                            carryOut(buffer.onBatchCommitted(id: batch.id, now: now))
                        }
                    }
                default:
                    crash()  // anything buffered or in flight is lost
                }
            }

            // The end: nothing lost any more; the primaries announce their newest sequences.
            for _ in 0..<10_000 {
                if inFlight == nil && buffer.isIdle
                    && (0..<partitions).allSatisfy({ buffer.acceptedSequence(of: $0) == histories[$0].last }) { break }
                now += 1_000
                for partition in 0..<partitions {
                    carryOut(buffer.onNewest(partition: partition, sequence: histories[partition].last, now: now))
                    while cursors[partition] <= histories[partition].last {
                        let sequence = cursors[partition]
                        cursors[partition] += 1
                        carryOut(buffer.onChange(histories[partition].changes[Int(sequence) - 1], now: now))
                    }
                }
                carryOut(buffer.onDrain(now: now))
                carryOut(buffer.onTick(now: now))
                if let batch = inFlight {
                    database.commit(batch, histories: histories)
                    inFlight = nil
                    carryOut(buffer.onBatchCommitted(id: batch.id, now: now))
                }
            }

            XCTAssertNil(inFlight)
            XCTAssertTrue(buffer.isIdle, "round \(round)")
            XCTAssertEqual(buffer.pendingChanges, 0, "round \(round)")
            for partition in 0..<partitions {
                XCTAssertEqual(database.watermarks[partition] ?? 0, histories[partition].last, "round \(round), partition \(partition)")
                XCTAssertEqual(database.rows[partition] ?? [:], histories[partition].store.entries, "round \(round), partition \(partition)")
            }
            totals.commits += database.commits
            totals.gaps += Int(buffer.gaps)
            totals.duplicates += Int(buffer.duplicates)
        }
        // The simulation really exercised what it claims to.
        XCTAssertGreaterThan(totals.crashes, 100)
        XCTAssertGreaterThan(totals.commits, 1_000)
        XCTAssertGreaterThan(totals.failures, 100)
        XCTAssertGreaterThan(totals.gaps, 50)
        XCTAssertGreaterThan(totals.duplicates, 100)
    }

    // MARK: - Snapshots

    private func entries(_ pairs: [(String, String, UInt64)]) -> [(key: [UInt8], entry: Entry)] {
        pairs.map { (key: bytes($0.0), entry: Entry(value: bytes($0.1), version: $0.2)) }
    }

    func testSnapshotReplacesThePartitionAfterWhatWasBufferedBefore() {
        var buffer = buffer(maximumBatch: 100, maximumDelay: 50)
        _ = buffer.onChange(change(0, 1, "a", "1"), now: 0)
        _ = buffer.onChange(change(1, 1, "x", "1"), now: 0)
        // A gap in partition 0 (3 arrives before 2), answered by a snapshot at 5.
        XCTAssertEqual(buffer.onChange(change(0, 3, "b", "3"), now: 1), [.missing(partition: 0, from: 2)])
        XCTAssertEqual(buffer.heldAside, 1)
        _ = buffer.onChange(change(0, 6, "c", "6"), now: 2)
        _ = buffer.onSnapshot(partition: 0, sequence: 5, entries: entries([("a", "5", 5), ("b", "3", 3)]), now: 3)
        XCTAssertEqual(buffer.heldAside, 0, "kept-aside changes at or below the snapshot are spent, later ones join")
        XCTAssertEqual(buffer.acceptedSequence(of: 0), 6)
        XCTAssertTrue(buffer.openGaps.isEmpty)

        // The first batch is what came before the snapshot; then the snapshot with the change after it.
        let first = onlyBatch(buffer.onTick(now: 50))
        XCTAssertEqual(first?.rows, [row(0, "a", "1", 1), row(1, "x", "1", 1)])
        XCTAssertEqual(first?.replacing, [])
        XCTAssertEqual(first?.watermarks, [0: 1, 1: 1])
        let second = onlyBatch(buffer.onBatchCommitted(id: first!.id, now: 60))
        XCTAssertEqual(second?.replacing, [0])
        XCTAssertEqual(second?.rows, [row(0, "a", "5", 5), row(0, "b", "3", 3), row(0, "c", "6", 6)])
        XCTAssertEqual(second?.watermarks, [0: 6])
        _ = buffer.onBatchCommitted(id: second!.id, now: 70)
        XCTAssertEqual(buffer.watermarks, [0: 6, 1: 1])
        XCTAssertEqual(buffer.pendingChanges, 0)
        XCTAssertTrue(buffer.isIdle)
    }

    func testSnapshotNotAheadOfTheStreamIsIgnored() {
        var buffer = buffer(maximumDelay: 50, watermarks: [0: 7])
        XCTAssertEqual(buffer.onSnapshot(partition: 0, sequence: 7, entries: entries([("a", "old", 7)]), now: 0), [])
        XCTAssertEqual(buffer.duplicates, 1)
        XCTAssertTrue(buffer.isIdle)
    }

    func testSnapshotOfAnEmptyPartitionDeletesEverything() {
        var buffer = buffer(maximumDelay: 50, watermarks: [2: 3])
        _ = buffer.onSnapshot(partition: 2, sequence: 9, entries: [], now: 0)
        let batch = onlyBatch(buffer.onTick(now: 50))
        XCTAssertEqual(batch?.rows, [])
        XCTAssertEqual(batch?.replacing, [2])
        XCTAssertEqual(batch?.watermarks, [2: 9])
    }
}
