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
               retryBaseMilliseconds: retryBase, retryMaximumMilliseconds: retryMaximum,
               watermarks: watermarks.mapValues { Buffer.Watermark(sequence: $0, epoch: 1) })
    }

    /// The sequences of watermarks, for short assertions.
    private func sequences(_ watermarks: [Int: Buffer.Watermark]?) -> [Int: UInt64]? { watermarks?.mapValues(\.sequence) }

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
        XCTAssertEqual(buffer.feed(change(0, 1, "a", "1"), now: 0), [])
        XCTAssertEqual(buffer.feed(change(0, 2, "a", "2"), now: 10), [])
        let batch = onlyBatch(buffer.onTick(now: 50))
        XCTAssertEqual(batch?.rows, [row(0, "a", "2", 2)])
        XCTAssertEqual(sequences(batch?.watermarks), [0: 2])
        XCTAssertEqual(batch?.changes, 2)
        XCTAssertEqual(batch?.id, 1)
        XCTAssertEqual(batch?.attempt, 1)
    }

    func testDeleteAfterPutKeepsTheDelete() {
        var buffer = buffer(maximumDelay: 50)
        _ = buffer.feed(change(0, 1, "a", "1"), now: 0)
        _ = buffer.feed(change(0, 2, "a", nil), now: 0)
        let batch = onlyBatch(buffer.onTick(now: 50))
        XCTAssertEqual(batch?.rows, [row(0, "a", nil, 2)])
        XCTAssertEqual(sequences(batch?.watermarks), [0: 2])
    }

    func testPutAfterDeleteKeepsThePut() {
        var buffer = buffer(maximumDelay: 50, watermarks: [0: 4])
        _ = buffer.feed(change(0, 5, "a", nil), now: 0)
        _ = buffer.feed(change(0, 6, "b", "x"), now: 0)
        _ = buffer.feed(change(0, 7, "a", "back"), now: 0)
        let batch = onlyBatch(buffer.onTick(now: 50))
        // Rows keep the order of the keys' first writes; the watermark is the highest sequence.
        XCTAssertEqual(batch?.rows, [row(0, "a", "back", 7), row(0, "b", "x", 6)])
        XCTAssertEqual(sequences(batch?.watermarks), [0: 7])
        XCTAssertEqual(batch?.changes, 3)
    }

    func testTheSameKeyInTwoPartitionsIsNotCoalesced() {
        var buffer = buffer(maximumDelay: 50)
        _ = buffer.feed(change(0, 1, "a", "p0"), now: 0)
        _ = buffer.feed(change(1, 1, "a", "p1"), now: 0)
        let batch = onlyBatch(buffer.onTick(now: 50))
        XCTAssertEqual(batch?.rows, [row(0, "a", "p0", 1), row(1, "a", "p1", 1)])
        XCTAssertEqual(sequences(batch?.watermarks), [0: 1, 1: 1])
    }

    // MARK: - Batch boundaries

    func testExactlyMaximumBatchKeysFlushAtOnce() {
        var buffer = buffer(maximumBatch: 3, maximumDelay: 1_000)
        XCTAssertEqual(buffer.feed(change(0, 1, "a", "1"), now: 0), [])
        XCTAssertEqual(buffer.feed(change(0, 2, "b", "1"), now: 0), [])
        let batch = onlyBatch(buffer.feed(change(0, 3, "c", "1"), now: 0))
        XCTAssertEqual(batch?.rows.map { text($0.key) }, ["a", "b", "c"])
        XCTAssertEqual(sequences(batch?.watermarks), [0: 3])
        XCTAssertTrue(buffer.inFlight)
    }

    func testOneMoreKeyStartsTheNextBatch() {
        var buffer = buffer(maximumBatch: 3, maximumDelay: 1_000)
        for (index, key) in ["a", "b", "c", "d"].enumerated() { _ = buffer.feed(change(0, UInt64(index + 1), key, "1"), now: 0) }
        XCTAssertEqual(buffer.pendingRows, 4)
        // "d" waits for the next batch: neither full nor old, and one is in flight anyway.
        let next = onlyBatch(buffer.onBatchCommitted(id: 1, now: 1_000))
        XCTAssertEqual(next?.rows, [row(0, "d", "1", 4)])
        XCTAssertEqual(sequences(next?.watermarks), [0: 4])
        XCTAssertEqual(next?.id, 2)
    }

    func testCoalescedWritesDoNotCountTowardsTheBatchSize() {
        var buffer = buffer(maximumBatch: 2, maximumDelay: 1_000)
        XCTAssertEqual(buffer.feed(change(0, 1, "a", "1"), now: 0), [])
        XCTAssertEqual(buffer.feed(change(0, 2, "a", "2"), now: 0), [])
        XCTAssertEqual(buffer.feed(change(0, 3, "a", "3"), now: 0), [])
        let batch = onlyBatch(buffer.feed(change(0, 4, "b", "1"), now: 0))
        XCTAssertEqual(batch?.rows, [row(0, "a", "3", 3), row(0, "b", "1", 4)])
        XCTAssertEqual(batch?.changes, 4)
    }

    func testDelayBoundary() {
        var buffer = buffer(maximumBatch: 100, maximumDelay: 200)
        _ = buffer.feed(change(0, 1, "a", "1"), now: 1_000)
        XCTAssertEqual(buffer.onTick(now: 1_199), [])
        XCTAssertEqual(onlyBatch(buffer.onTick(now: 1_200))?.rows, [row(0, "a", "1", 1)])
    }

    func testTheDelayRunsFromTheOldestChangeEvenWhenItWasCoalesced() {
        var buffer = buffer(maximumBatch: 100, maximumDelay: 200)
        _ = buffer.feed(change(0, 1, "a", "1"), now: 1_000)
        _ = buffer.feed(change(0, 2, "a", "2"), now: 1_150)
        XCTAssertEqual(buffer.onTick(now: 1_199), [])
        XCTAssertEqual(onlyBatch(buffer.onTick(now: 1_200))?.rows, [row(0, "a", "2", 2)])
    }

    func testAChangeArrivingAfterTheDelayFlushesWithoutWaitingForATick() {
        var buffer = buffer(maximumBatch: 100, maximumDelay: 200)
        _ = buffer.feed(change(0, 1, "a", "1"), now: 1_000)
        // The next message (here the change that follows) finds the first one due.
        let batch = onlyBatch(buffer.feed(change(0, 2, "b", "1"), now: 1_300))
        XCTAssertEqual(batch?.rows.count, 1)
    }

    func testZeroDelayFlushesEveryChangeWhenNothingIsInFlight() {
        var buffer = buffer(maximumBatch: 100, maximumDelay: 0)
        XCTAssertEqual(onlyBatch(buffer.feed(change(0, 1, "a", "1"), now: 5))?.rows.count, 1)
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
        _ = buffer.feed(change(0, 1, "a", "1"), now: 0)
        XCTAssertNotNil(onlyBatch(buffer.feed(change(0, 2, "b", "1"), now: 0)))
        // A full batch's worth, then the full batch's own key again (it may still coalesce,
        // being the last), then a new key, and a long wait: nothing while batch 1 is out.
        XCTAssertEqual(buffer.feed(change(0, 3, "c", "1"), now: 10), [])
        XCTAssertEqual(buffer.feed(change(0, 4, "d", "1"), now: 10), [])
        XCTAssertEqual(buffer.feed(change(0, 5, "c", "2"), now: 10), [])
        XCTAssertEqual(buffer.feed(change(0, 6, "e", "1"), now: 10), [])
        XCTAssertEqual(buffer.onTick(now: 10_000), [])
        XCTAssertTrue(buffer.inFlight)

        let second = onlyBatch(buffer.onBatchCommitted(id: 1, now: 10_000))
        XCTAssertEqual(second?.rows, [row(0, "c", "2", 5), row(0, "d", "1", 4)])
        XCTAssertEqual(sequences(second?.watermarks), [0: 5])
        XCTAssertEqual(second?.changes, 3)
        let third = onlyBatch(buffer.onBatchCommitted(id: 2, now: 10_000))
        XCTAssertEqual(third?.rows, [row(0, "e", "1", 6)])
    }

    func testCoalescingNeverReachesIntoAnEarlierBatch() {
        var buffer = buffer(maximumBatch: 2, maximumDelay: 100)
        _ = buffer.feed(change(0, 1, "a", "1"), now: 0)
        _ = buffer.feed(change(0, 2, "b", "1"), now: 0)          // batch 1 out
        _ = buffer.feed(change(0, 3, "c", "1"), now: 0)
        _ = buffer.feed(change(0, 4, "d", "1"), now: 0)          // segment 2 full
        _ = buffer.feed(change(0, 5, "e", "1"), now: 0)          // segment 3 opens
        _ = buffer.feed(change(0, 6, "c", "2"), now: 0)          // c again: into segment 3, not 2
        let second = onlyBatch(buffer.onBatchCommitted(id: 1, now: 0))
        XCTAssertEqual(second?.rows, [row(0, "c", "1", 3), row(0, "d", "1", 4)])
        XCTAssertEqual(sequences(second?.watermarks), [0: 4])
        let third = onlyBatch(buffer.onBatchCommitted(id: 2, now: 0))
        XCTAssertEqual(third?.rows, [row(0, "e", "1", 5), row(0, "c", "2", 6)])
        XCTAssertEqual(sequences(third?.watermarks), [0: 6])
    }

    func testCommitAdvancesWatermarksAndFlushesTheNextDueBatch() {
        var buffer = buffer(maximumBatch: 10, maximumDelay: 100, watermarks: [0: 3, 1: 9])
        _ = buffer.feed(change(0, 4, "a", "1"), now: 0)
        let first = onlyBatch(buffer.onTick(now: 100))
        _ = buffer.feed(change(1, 10, "z", "1"), now: 150)
        XCTAssertEqual(buffer.watermark(of: 0), 3)
        // Not due yet at 200: the commit flushes nothing; a tick does later.
        XCTAssertEqual(buffer.onBatchCommitted(id: first!.id, now: 200), [])
        XCTAssertEqual(buffer.watermark(of: 0), 4)
        XCTAssertEqual(buffer.watermark(of: 1), 9)
        XCTAssertFalse(buffer.inFlight)
        let second = onlyBatch(buffer.onTick(now: 250))
        XCTAssertEqual(sequences(second?.watermarks), [1: 10])
        // Due by the time the commit arrives: flushed at once.
        _ = buffer.feed(change(0, 5, "b", "1"), now: 260)
        let third = onlyBatch(buffer.onBatchCommitted(id: second!.id, now: 400))
        XCTAssertEqual(third?.rows, [row(0, "b", "1", 5)])
        XCTAssertEqual(sequences(buffer.watermarks), [0: 4, 1: 10])
    }

    func testCommitOrFailureOfAnotherBatchIsIgnored() {
        var buffer = buffer(maximumBatch: 1)
        let batch = onlyBatch(buffer.feed(change(0, 1, "a", "1"), now: 0))!
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
        _ = buffer.feed(change(0, 1, "a", "1"), now: 0)
        let batch = onlyBatch(buffer.feed(change(0, 2, "b", "1"), now: 0))!
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
        let id = onlyBatch(buffer.feed(change(0, 1, "a", "1"), now: 0))!.id
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
        let next = onlyBatch(buffer.feed(change(0, 2, "b", "1"), now: now))!
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
        _ = buffer.feed(change(0, 1, "a", "1"), now: 0)
        let failed = onlyBatch(buffer.feed(change(0, 2, "b", "1"), now: 0))!
        _ = buffer.onBatchFailed(id: failed.id, error: "down", now: 0)
        // More changes, some to the failed batch's keys, all long due: they wait behind it.
        XCTAssertEqual(buffer.feed(change(0, 3, "a", "2"), now: 1), [])
        XCTAssertEqual(buffer.feed(change(0, 4, "c", "1"), now: 2), [])
        XCTAssertEqual(buffer.feed(change(0, 5, "d", "1"), now: 3), [])
        XCTAssertEqual(buffer.onTick(now: 499), [])
        XCTAssertEqual(buffer.pendingChanges, 5)
        XCTAssertEqual(buffer.pendingRows, 5)
        let retry = onlyBatch(buffer.onTick(now: 500))
        XCTAssertEqual(retry?.rows, failed.rows)
        let next = onlyBatch(buffer.onBatchCommitted(id: failed.id, now: 600))
        XCTAssertEqual(next?.rows, [row(0, "a", "2", 3), row(0, "c", "1", 4)])
        XCTAssertEqual(sequences(next?.watermarks), [0: 4])
        let last = onlyBatch(buffer.onBatchCommitted(id: next!.id, now: 600))
        XCTAssertEqual(last?.rows, [row(0, "d", "1", 5)])
        _ = buffer.onBatchCommitted(id: last!.id, now: 600)
        XCTAssertEqual(buffer.watermark(of: 0), 5)
        XCTAssertTrue(buffer.isIdle)
    }

    func testAFailedBatchIsRetriedByAChangeArrivingAfterItsTime() {
        var buffer = buffer(maximumBatch: 1, retryBase: 100)
        let batch = onlyBatch(buffer.feed(change(0, 1, "a", "1"), now: 0))!
        _ = buffer.onBatchFailed(id: batch.id, error: "down", now: 0)
        let retry = onlyBatch(buffer.feed(change(0, 2, "b", "1"), now: 150))
        XCTAssertEqual(retry?.id, batch.id)
    }

    // MARK: - Watermarks, duplicates and gaps

    func testChangesAtOrBelowTheWatermarkAreIgnoredAndCounted() {
        var buffer = buffer(maximumBatch: 1, watermarks: [0: 5])
        XCTAssertEqual(buffer.feed(change(0, 3, "a", "1"), now: 0), [])
        XCTAssertEqual(buffer.feed(change(0, 5, "a", "1"), now: 0), [])
        XCTAssertEqual(buffer.duplicates, 2)
        XCTAssertEqual(buffer.pendingChanges, 0)
        XCTAssertTrue(buffer.isIdle)
        XCTAssertEqual(sequences(onlyBatch(buffer.feed(change(0, 6, "a", "1"), now: 0))?.watermarks), [0: 6])
    }

    func testChangesAtOrBelowWhatIsBufferedAreIgnoredAndCounted() {
        var buffer = buffer(maximumBatch: 10)
        _ = buffer.feed(change(0, 1, "a", "1"), now: 0)
        _ = buffer.feed(change(0, 2, "a", "2"), now: 0)
        XCTAssertEqual(buffer.feed(change(0, 2, "a", "2"), now: 0), [])
        XCTAssertEqual(buffer.feed(change(0, 1, "a", "1"), now: 0), [])
        XCTAssertEqual(buffer.duplicates, 2)
        XCTAssertEqual(buffer.pendingChanges, 2)
        XCTAssertEqual(buffer.acceptedSequence(of: 0), 2)
        XCTAssertEqual(onlyBatch(buffer.onTick(now: 100))?.rows, [row(0, "a", "2", 2)])
    }

    func testAGapIsReportedOnceAndFilledByTheReplay() {
        var buffer = buffer(maximumBatch: 10, maximumDelay: 100, watermarks: [0: 5])
        XCTAssertEqual(buffer.feed(change(0, 8, "c", "1"), now: 0), [.missing(partition: 0, from: 6, dataEpoch: 1)])
        XCTAssertEqual(buffer.feed(change(0, 9, "d", "1"), now: 10), [])
        XCTAssertEqual(buffer.feed(change(0, 9, "d", "1"), now: 10), [])  // kept aside already
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
        XCTAssertEqual(sequences(flushed(directives).first?.watermarks), [0: 9])
        XCTAssertEqual(buffer.heldAside, 0)
        XCTAssertEqual(buffer.duplicates, 3)
        XCTAssertEqual(buffer.openGaps, [:])
        XCTAssertEqual(buffer.gaps, 1)
    }

    func testAPartlyFilledGapIsNotAskedForAgainUntilTheReplayStalls() {
        var buffer = buffer(maximumBatch: 100, maximumDelay: 100_000)
        XCTAssertEqual(buffer.feed(change(0, 5, "e", "1"), now: 0), [.missing(partition: 0, from: 1, dataEpoch: 0)])
        XCTAssertEqual(buffer.feed(change(0, 1, "a", "1"), now: 500), [])
        XCTAssertEqual(buffer.feed(change(0, 2, "b", "1"), now: 900), [])
        // No progress for the retry interval since 900: ask again from where it stands.
        XCTAssertEqual(buffer.onTick(now: 900 + Buffer.missingRetryMilliseconds - 1), [])
        XCTAssertEqual(buffer.onTick(now: 900 + Buffer.missingRetryMilliseconds), [.missing(partition: 0, from: 3, dataEpoch: 1)], "labelled by the last change accepted")
        XCTAssertEqual(buffer.onTick(now: 900 + Buffer.missingRetryMilliseconds + 1), [])
        XCTAssertEqual(buffer.gaps, 1)
        _ = buffer.onChanges([change(0, 3, "c", "1"), change(0, 4, "d", "1")], now: 3_000)
        XCTAssertEqual(buffer.acceptedSequence(of: 0), 5)
        XCTAssertEqual(buffer.openGaps, [:])
        // A second gap later is a new one.
        XCTAssertEqual(buffer.feed(change(0, 7, "g", "1"), now: 3_000), [.missing(partition: 0, from: 6, dataEpoch: 1)])
        XCTAssertEqual(buffer.gaps, 2)
    }

    func testChangesLostAtTheEndOfAStreamAreNoticedFromTheNewestSequence() {
        var buffer = buffer(maximumBatch: 100, watermarks: [2: 10])
        _ = buffer.feed(change(2, 11, "a", "1"), now: 0)
        XCTAssertEqual(buffer.onCommit(partition: 2, epoch: 1, committed: 11, now: 0), [])
        XCTAssertEqual(buffer.onCommit(partition: 2, epoch: 1, committed: 13, now: 0), [.missing(partition: 2, from: 12, dataEpoch: 1)])
        XCTAssertEqual(buffer.onCommit(partition: 2, epoch: 1, committed: 14, now: 0), [])
        XCTAssertEqual(buffer.openGaps, [2: 12])
        XCTAssertFalse(buffer.isIdle)
        _ = buffer.onChanges([change(2, 12, "b", "1"), change(2, 13, "c", "1")], now: 10)
        XCTAssertEqual(buffer.openGaps, [2: 14], "14 was announced too")
        _ = buffer.feed(change(2, 14, "d", "1"), now: 20)
        XCTAssertEqual(buffer.openGaps, [:])
        XCTAssertEqual(buffer.gaps, 1)
    }

    func testBeyondTheLimitChangesAheadAreDroppedAndTheGapStaysOpenUntilTheyArrive() {
        var buffer = buffer(maximumBatch: 100_000, maximumDelay: 100_000)
        XCTAssertEqual(buffer.feed(change(0, 2, "k", "1"), now: 0), [.missing(partition: 0, from: 1, dataEpoch: 0)])
        for sequence in 3...UInt64(Buffer.maximumHeld + 5) {
            XCTAssertEqual(buffer.feed(change(0, sequence, "k", "\(sequence)"), now: 0), [])
        }
        XCTAssertEqual(buffer.heldAside, Buffer.maximumHeld)
        XCTAssertEqual(buffer.droppedAhead, 4)
        _ = buffer.feed(change(0, 1, "k", "1"), now: 0)
        let through = UInt64(Buffer.maximumHeld + 1)
        XCTAssertEqual(buffer.acceptedSequence(of: 0), through)
        XCTAssertEqual(buffer.openGaps, [0: through + 1])
        XCTAssertEqual(buffer.heldAside, 0)
        _ = buffer.onChanges((through + 1...through + 4).map { change(0, $0, "k", "\($0)") }, now: 0)
        XCTAssertEqual(buffer.openGaps, [:])
        XCTAssertEqual(buffer.pendingChanges, Buffer.maximumHeld + 5)
        XCTAssertEqual(buffer.pendingRows, 1)
    }

    // MARK: - Backlog figures

    func testBacklogFigures() {
        var buffer = buffer(maximumBatch: 2, maximumDelay: 1_000, retryBase: 100)
        XCTAssertEqual(buffer.pendingChanges, 0)
        XCTAssertEqual(buffer.oldestPendingAge(now: 5_000), 0)
        _ = buffer.feed(change(0, 1, "a", "1"), now: 1_000)
        _ = buffer.feed(change(0, 2, "a", "2"), now: 1_100)
        XCTAssertEqual(buffer.pendingChanges, 2, "coalesced changes count: the database has neither")
        XCTAssertEqual(buffer.pendingRows, 1)
        XCTAssertEqual(buffer.oldestPendingAge(now: 1_500), 500)
        XCTAssertFalse(buffer.inFlight)
        let batch = onlyBatch(buffer.feed(change(0, 3, "b", "1"), now: 1_200))!
        _ = buffer.feed(change(0, 4, "c", "1"), now: 1_300)
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
        _ = buffer.feed(change(1, 5, "x", "1"), now: 2_250)
        XCTAssertEqual(buffer.heldAside, 1)
        XCTAssertEqual(buffer.pendingChanges, 1)
        XCTAssertEqual(buffer.oldestPendingAge(now: 2_300), 1_000)
    }

    func testDrainFlushesEverythingWithoutWaitingForTheDelay() {
        var buffer = buffer(maximumBatch: 2, maximumDelay: 60_000)
        _ = buffer.feed(change(0, 1, "k1", "1"), now: 0)
        let first = onlyBatch(buffer.feed(change(0, 2, "k2", "1"), now: 0))!
        _ = buffer.feed(change(0, 3, "k3", "1"), now: 0)
        XCTAssertEqual(buffer.onBatchCommitted(id: first.id, now: 2), [])
        XCTAssertEqual(buffer.onTick(now: 3), [])
        let second = onlyBatch(buffer.onDrain(now: 4))!
        XCTAssertEqual(second.rows, [row(0, "k3", "1", 3)])
        XCTAssertEqual(buffer.onBatchCommitted(id: second.id, now: 5), [])
        // Still draining: a late change goes out at once.
        let third = onlyBatch(buffer.feed(change(0, 4, "k4", "1"), now: 6))!
        XCTAssertEqual(buffer.onBatchCommitted(id: third.id, now: 7), [])
        XCTAssertTrue(buffer.isIdle)
        XCTAssertEqual(buffer.watermark(of: 0), 4)
    }

    // MARK: - Several partitions

    func testInterleavedPartitionsKeepTheirOwnWatermarks() {
        var buffer = buffer(maximumBatch: 3, maximumDelay: 100, watermarks: [1: 40])
        var directives: [Directive] = []
        directives += buffer.feed(change(0, 1, "a", "1"), now: 0)
        directives += buffer.feed(change(1, 41, "x", "1"), now: 0)
        directives += buffer.feed(change(0, 2, "a", nil), now: 0)
        directives += buffer.feed(change(2, 1, "m", "1"), now: 0)      // batch 1 full: a, x, m
        directives += buffer.feed(change(1, 42, "x", "2"), now: 0)     // x again: the next batch
        directives += buffer.feed(change(1, 40, "old", "1"), now: 0)   // below partition 1's watermark
        XCTAssertEqual(buffer.feed(change(2, 3, "n", "1"), now: 0), [.missing(partition: 2, from: 2, dataEpoch: 1)])
        XCTAssertEqual(buffer.duplicates, 1)
        XCTAssertEqual(buffer.acceptedSequence(of: 0), 2)
        XCTAssertEqual(buffer.acceptedSequence(of: 1), 42)
        XCTAssertEqual(buffer.acceptedSequence(of: 2), 1)

        let first = onlyBatch(directives)
        XCTAssertEqual(first?.rows, [row(0, "a", nil, 2), row(1, "x", "1", 41), row(2, "m", "1", 1)])
        XCTAssertEqual(sequences(first?.watermarks), [0: 2, 1: 41, 2: 1])
        XCTAssertEqual(buffer.onBatchCommitted(id: first!.id, now: 50), [])
        let second = onlyBatch(buffer.onTick(now: 100))
        XCTAssertEqual(second?.rows, [row(1, "x", "2", 42)])
        XCTAssertEqual(sequences(second?.watermarks), [1: 42])
        XCTAssertEqual(buffer.onBatchCommitted(id: second!.id, now: 100), [])
        XCTAssertEqual(sequences(buffer.watermarks), [0: 2, 1: 42, 2: 1])
        // Partition 2's change beyond its gap is still waiting; the replay brings it in.
        XCTAssertEqual(buffer.openGaps, [2: 2])
        XCTAssertEqual(buffer.heldAside, 1)
        // The change kept aside since 0 makes the batch due at once.
        let third = onlyBatch(buffer.feed(change(2, 2, "m", "2"), now: 100))
        XCTAssertEqual(third?.rows, [row(2, "m", "2", 2), row(2, "n", "1", 3)])
        XCTAssertEqual(sequences(third?.watermarks), [2: 3])
    }

    // MARK: - Crashes, failovers and forks

    /// The grid side of one partition in the simulation: a primary's history with its
    /// commit index, failovers that cut the uncommitted tail, losses that restart it from
    /// the database, and late messages of deposed primaries.
    private struct SimulatedPartition {
        var store: PartitionStore
        var changes: [UInt64: Change] = [:]
        var committed: UInt64 = 0
        /// Every state any history reached, by (label of its last change, sequence).
        var states: [Watermark: EntryTable]
        /// States that were committed at some point: the only ones the database may hold.
        var committedStates: Set<Watermark> = [Watermark(sequence: 0, epoch: 0)]
        /// How far back a catch-up can be served from the log.
        var logStart: UInt64 = 1
        /// The epoch that wrote each sequence of the current history.
        var labels: [UInt64: UInt64] = [:]

        typealias Watermark = WriteBehindBuffer.Watermark

        init(partition: Int) {
            store = PartitionStore(partition: partition, epoch: 1)
            states = [Watermark(sequence: 0, epoch: 0): [:]]
        }

        var position: Watermark { Watermark(sequence: store.sequence, epoch: store.lastEpoch) }

        mutating func write(_ random: inout SplitMix64) -> Change? {
            let key = bytes("p\(store.partition)-k\(random.below(6))")
            let change: Change?
            if random.below(4) == 0 { change = store.delete(key) } else { change = store.put(key, bytes("v\(random.next() % 1_000)")) }
            guard let change else { return nil }
            changes[change.sequence] = change
            labels[change.sequence] = change.epoch
            states[position] = store.entries
            return change
        }

        mutating func commit(through sequence: UInt64) {
            guard sequence > committed else { return }
            for s in (committed + 1)...sequence { committedStates.insert(Watermark(sequence: s, epoch: labels[s] ?? 0)) }
            committed = sequence
        }

        /// A backup that had the history up to `keep` (at least the commit index) takes over.
        mutating func failOver(keep: UInt64) {
            let base = logStart - 1
            let baseLabel = labels[base] ?? 0
            var next = PartitionStore(partition: store.partition, epoch: store.epoch + 1, sequence: base,
                                      entries: states[Watermark(sequence: base, epoch: baseLabel)]!, lastEpoch: base > 0 ? baseLabel : nil)
            if base < keep { for s in (base + 1)...keep { next.apply(changes[s]!) } }
            for s in changes.keys where s > keep { changes[s] = nil }
            store = next
            committed = min(committed, keep)
        }

        /// Every replica lost: the next primary starts from what the database holds, far above.
        mutating func restart(from database: EntryTable, sequence: UInt64) {
            store = PartitionStore(partition: store.partition, epoch: store.epoch + 1, sequence: sequence, entries: database, lastEpoch: store.epoch + 1)
            changes = [:]
            labels = [sequence: store.epoch]
            committed = sequence
            logStart = sequence + 1
            states[position] = store.entries
            committedStates.insert(position)
        }

        /// What answers the mirror's request for the changes from `from` after `dataEpoch`.
        func answer(from: UInt64, dataEpoch: UInt64, logCapacity: UInt64) -> (changes: [Change], snapshot: Bool) {
            let start = max(logStart, store.sequence >= logCapacity ? store.sequence - logCapacity + 1 : 1)
            guard store.contains(epoch: dataEpoch, sequence: from - 1), from >= start || from > store.sequence else { return ([], true) }
            return (from > store.sequence ? [] : (from...store.sequence).compactMap { changes[$0] }, false)
        }
    }

    /// The database behind the mirror: rows by partition and the watermarks, changed together.
    private struct Database {
        var rows: [Int: EntryTable] = [:]
        var watermarks: [Int: WriteBehindBuffer.Watermark] = [:]
        var commits = 0

        /// One transaction. Checks that nothing in it was applied twice, and that afterwards every
        /// partition holds exactly a committed state of the grid, the one its watermark names.
        mutating func commit(_ batch: WriteBehindBuffer.Batch, grid: [SimulatedPartition], file: StaticString = #filePath, line: UInt = #line) {
            for row in batch.rows where !batch.replacing.contains(row.partition) {
                XCTAssertGreaterThan(row.version, watermarks[row.partition]?.sequence ?? 0, "a change applied twice", file: file, line: line)
            }
            for partition in batch.replacing { rows[partition] = [:] }
            for row in batch.rows {
                XCTAssertLessThanOrEqual(row.version, batch.watermarks[row.partition]?.sequence ?? 0, "a row beyond its batch's watermark", file: file, line: line)
                if let value = row.value {
                    rows[row.partition, default: [:]][row.key] = Entry(value: value, version: row.version)
                } else {
                    rows[row.partition, default: [:]].remove(row.key)
                }
            }
            for (partition, watermark) in batch.watermarks {
                if !batch.replacing.contains(partition) {
                    XCTAssertGreaterThan(watermark.sequence, watermarks[partition]?.sequence ?? 0, "a watermark went back", file: file, line: line)
                }
                watermarks[partition] = watermark
                XCTAssertTrue(grid[partition].committedStates.contains(watermark), "partition \(partition): the database holds \(watermark), never committed", file: file, line: line)
                XCTAssertEqual(rows[partition] ?? [:], grid[partition].states[watermark], "partition \(partition) differs from its state at \(watermark)", file: file, line: line)
            }
            commits += 1
        }
    }

    /// The mirror's whole contract under everything at once: PUB drops and duplicates,
    /// commit indexes arriving late, failovers that cut an uncommitted tail, partitions
    /// lost and restarted from the database, deposed primaries' late messages, failed
    /// batches and mirror crashes. The database never holds an uncommitted or forked
    /// state, nothing is applied twice, and once the grid is quiet it equals the grid.
    func testNothingIsLostAppliedTwiceOrForkedWhateverHappens() {
        var random = SplitMix64(seed: 0x5EED_0006)
        var totals = (crashes: 0, commits: 0, failures: 0, gaps: 0, failovers: 0, losses: 0, stale: 0, snapshots: 0)
        for round in 0..<250 {
            let partitions = 1 + random.below(3)
            var grid = (0..<partitions).map { SimulatedPartition(partition: $0) }
            let maximumBatch = 1 + random.below(8)
            let maximumDelay = UInt64(random.below(120))
            let logCapacity = UInt64(4 + random.below(60))
            var database = Database()
            func start() -> WriteBehindBuffer {
                WriteBehindBuffer(section: "account", maximumBatch: maximumBatch, maximumDelayMilliseconds: maximumDelay,
                                  retryBaseMilliseconds: 10, retryMaximumMilliseconds: 80, watermarks: database.watermarks)
            }
            var buffer = start()
            var inFlight: WriteBehindBuffer.Batch?
            var late: [(partition: Int, change: Change)] = []
            var now: UInt64 = 0

            func serve(_ partition: Int, from: UInt64, dataEpoch: UInt64) {
                let primary = grid[partition]
                let answer = primary.answer(from: from, dataEpoch: dataEpoch, logCapacity: logCapacity)
                if answer.snapshot {
                    totals.snapshots += 1
                    let entries = primary.store.entries.map { (key: $0.key, entry: $0.value) }
                    carryOut(buffer.onSnapshot(partition: partition, epoch: primary.store.epoch, sequence: primary.store.sequence,
                                               lastEpoch: primary.store.lastEpoch, committed: primary.committed, entries: entries, now: now))
                } else {
                    carryOut(buffer.onChanges(answer.changes, carrier: primary.store.epoch, committed: primary.committed, now: now))
                }
            }
            func carryOut(_ directives: [WriteBehindBuffer.Directive]) {
                for directive in directives {
                    switch directive {
                    case .flush(let batch):
                        XCTAssertNil(inFlight, "two batches in flight (round \(round))")
                        inFlight = batch
                    case .missing(let partition, let from, let dataEpoch):
                        if random.below(5) != 0 { serve(partition, from: from, dataEpoch: dataEpoch) }  // else lost on the way
                    case .retryAt(let at):
                        XCTAssertGreaterThan(at, now)
                    }
                }
            }
            func crash() {
                totals.crashes += 1
                inFlight = nil
                buffer = start()
            }

            for _ in 0..<(100 + random.below(400)) {
                now += UInt64(random.below(25))
                let partition = random.below(partitions)
                switch random.below(100) {
                case 0..<40:
                    guard let change = grid[partition].write(&random) else { continue }
                    switch random.below(20) {
                    case 0: break                                                        // PUB dropped it
                    case 1: carryOut(buffer.onChange(change, now: now)); carryOut(buffer.onChange(change, now: now))
                    default: carryOut(buffer.onChange(change, now: now))
                    }
                case 40..<55:
                    let primary = grid[partition]
                    guard primary.store.sequence > primary.committed else { continue }
                    grid[partition].commit(through: primary.committed + 1 + UInt64(random.below(Int(primary.store.sequence - primary.committed))))
                    if random.below(8) != 0 {
                        carryOut(buffer.onCommit(partition: partition, epoch: grid[partition].store.epoch, committed: grid[partition].committed, now: now))
                    }
                case 55..<58:
                    // Failover: an in-sync backup had at least everything committed; the old
                    // primary's uncommitted tail may still arrive, late.
                    totals.failovers += 1
                    let primary = grid[partition]
                    for s in (primary.committed + 1)..<(primary.store.sequence + 1) where random.below(2) == 0 {
                        if let change = primary.changes[s] { late.append((partition, change)) }
                    }
                    grid[partition].failOver(keep: primary.committed + UInt64(random.below(Int(primary.store.sequence - primary.committed) + 1)))
                    if random.below(2) == 0 { carryOut(buffer.onEpoch(partition: partition, epoch: grid[partition].store.epoch, now: now)) }
                case 58:
                    // Every replica lost: restart from the database, the sequence far above.
                    totals.losses += 1
                    let primary = grid[partition]
                    for s in (primary.committed + 1)..<(primary.store.sequence + 1) where random.below(2) == 0 {
                        if let change = primary.changes[s] { late.append((partition, change)) }
                    }
                    let held = database.watermarks[partition]?.sequence ?? 0
                    grid[partition].restart(from: database.rows[partition] ?? [:], sequence: max(held, primary.store.sequence) + 1_000)
                case 59..<62:
                    guard !late.isEmpty else { continue }
                    totals.stale += 1
                    let message = late.remove(at: random.below(late.count))
                    carryOut(buffer.onChange(message.change, now: now))
                case 62..<75:
                    carryOut(buffer.onTick(now: now))
                case 75..<97:
                    guard let batch = inFlight else { continue }
                    if random.below(4) == 0 {
                        totals.failures += 1
                        inFlight = nil
                        carryOut(buffer.onBatchFailed(id: batch.id, error: "database is locked", now: now))
                    } else {
                        database.commit(batch, grid: grid)
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

            // Quiet: every primary commits all it has and announces it; late messages arrive.
            for message in late { carryOut(buffer.onChange(message.change, now: now)) }
            for _ in 0..<2_000 {
                let done = inFlight == nil && buffer.isIdle
                    && (0..<partitions).allSatisfy { database.watermarks[$0] ?? WriteBehindBuffer.Watermark(sequence: 0) == grid[$0].position }
                if done { break }
                now += 1_000
                for partition in 0..<partitions {
                    grid[partition].commit(through: grid[partition].store.sequence)
                    carryOut(buffer.onCommit(partition: partition, epoch: grid[partition].store.epoch, committed: grid[partition].committed, now: now))
                }
                carryOut(buffer.onDrain(now: now))
                carryOut(buffer.onTick(now: now))
                if let batch = inFlight {
                    database.commit(batch, grid: grid)
                    inFlight = nil
                    carryOut(buffer.onBatchCommitted(id: batch.id, now: now))
                }
            }
            XCTAssertNil(inFlight)
            XCTAssertTrue(buffer.isIdle, "round \(round)")
            XCTAssertEqual(buffer.pendingChanges, 0, "round \(round)")
            for partition in 0..<partitions {
                XCTAssertEqual(database.watermarks[partition] ?? WriteBehindBuffer.Watermark(sequence: 0), grid[partition].position, "round \(round), partition \(partition)")
                XCTAssertEqual(database.rows[partition] ?? [:], grid[partition].store.entries, "round \(round), partition \(partition)")
            }
            totals.commits += database.commits
            totals.gaps += Int(buffer.gaps)
        }
        // The simulation really exercised what it claims to.
        XCTAssertGreaterThan(totals.crashes, 100)
        XCTAssertGreaterThan(totals.commits, 1_000)
        XCTAssertGreaterThan(totals.failures, 100)
        XCTAssertGreaterThan(totals.gaps, 50)
        XCTAssertGreaterThan(totals.failovers, 50)
        XCTAssertGreaterThan(totals.losses, 20)
        XCTAssertGreaterThan(totals.stale, 50)
        XCTAssertGreaterThan(totals.snapshots, 20)
    }

    // MARK: - Snapshots

    private func entries(_ pairs: [(String, String, UInt64)]) -> [(key: [UInt8], entry: Entry)] {
        pairs.map { (key: bytes($0.0), entry: Entry(value: bytes($0.1), version: $0.2)) }
    }

    func testSnapshotReplacesThePartitionAfterWhatWasBufferedBefore() {
        var buffer = buffer(maximumBatch: 100, maximumDelay: 50)
        _ = buffer.feed(change(0, 1, "a", "1"), now: 0)
        _ = buffer.feed(change(1, 1, "x", "1"), now: 0)
        // A gap in partition 0 (3 arrives before 2), answered by a snapshot at 5.
        XCTAssertEqual(buffer.feed(change(0, 3, "b", "3"), now: 1), [.missing(partition: 0, from: 2, dataEpoch: 1)])
        XCTAssertEqual(buffer.heldAside, 1)
        _ = buffer.feed(change(0, 6, "c", "6"), now: 2)
        _ = buffer.onSnapshot(partition: 0, epoch: 1, sequence: 5, lastEpoch: 1, committed: 5, entries: entries([("a", "5", 5), ("b", "3", 3)]), now: 3)
        XCTAssertEqual(buffer.heldAside, 0, "kept-aside changes at or below the snapshot are spent, later ones join")
        XCTAssertEqual(buffer.acceptedSequence(of: 0), 6)
        XCTAssertTrue(buffer.openGaps.isEmpty)

        // The first batch is what came before the snapshot; then the snapshot with the change after it.
        let first = onlyBatch(buffer.onTick(now: 50))
        XCTAssertEqual(first?.rows, [row(0, "a", "1", 1), row(1, "x", "1", 1)])
        XCTAssertEqual(first?.replacing, [])
        XCTAssertEqual(sequences(first?.watermarks), [0: 1, 1: 1])
        let second = onlyBatch(buffer.onBatchCommitted(id: first!.id, now: 60))
        XCTAssertEqual(second?.replacing, [0])
        XCTAssertEqual(second?.rows, [row(0, "a", "5", 5), row(0, "b", "3", 3), row(0, "c", "6", 6)])
        XCTAssertEqual(sequences(second?.watermarks), [0: 6])
        _ = buffer.onBatchCommitted(id: second!.id, now: 70)
        XCTAssertEqual(sequences(buffer.watermarks), [0: 6, 1: 1])
        XCTAssertEqual(buffer.pendingChanges, 0)
        XCTAssertTrue(buffer.isIdle)
    }

    func testSnapshotNotAheadOfTheStreamIsIgnored() {
        var buffer = buffer(maximumDelay: 50, watermarks: [0: 7])
        XCTAssertEqual(buffer.onSnapshot(partition: 0, epoch: 1, sequence: 7, lastEpoch: 1, committed: 7, entries: entries([("a", "old", 7)]), now: 0), [])
        XCTAssertEqual(buffer.duplicates, 1)
        XCTAssertTrue(buffer.isIdle)
    }

    func testSnapshotOfAnEmptyPartitionDeletesEverything() {
        var buffer = buffer(maximumDelay: 50, watermarks: [2: 3])
        _ = buffer.onSnapshot(partition: 2, epoch: 1, sequence: 9, lastEpoch: 1, committed: 9, entries: [], now: 0)
        let batch = onlyBatch(buffer.onTick(now: 50))
        XCTAssertEqual(batch?.rows, [])
        XCTAssertEqual(batch?.replacing, [2])
        XCTAssertEqual(sequences(batch?.watermarks), [2: 9])
    }
}

extension WriteBehindBuffer {
    /// A replay by the epoch-1 primary, committed through its last change.
    mutating func onChanges(_ changes: [Change], now: UInt64) -> [Directive] {
        onChanges(changes, carrier: 1, committed: changes.map(\.sequence).max(), now: now)
    }

    /// A change from PUB and, at once, its primary's commit of it (what a sync primary with
    /// every backup prompt announces a moment later).
    mutating func feed(_ change: Change, now: UInt64) -> [Directive] {
        onChange(change, now: now) + onCommit(partition: change.partition, epoch: change.epoch, committed: change.sequence, now: now)
    }
}
