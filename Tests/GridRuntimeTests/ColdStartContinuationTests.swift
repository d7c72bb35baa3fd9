import GridCore
import GridStore
@testable import GridRuntime
import XCTest

/// F1.6 of the review: a partition loaded from the database never issues again a version
/// a client may have seen; after a clean stop (sealed) versions continue exactly.
final class ColdStartContinuationTests: XCTestCase {
    func testALoadContinuesExactlyOnlyAfterACleanStop() {
        XCTAssertEqual(ColdStartLoader.continuation(nil, highestVersion: 0), 0, "a partition the database never held starts at 0")
        XCTAssertEqual(ColdStartLoader.continuation(StoredWatermark(sequence: 40, epoch: 3, sealed: true), highestVersion: 38), 40)
        XCTAssertEqual(ColdStartLoader.continuation(StoredWatermark(sequence: 40, epoch: 3, sealed: false), highestVersion: 38), 40 + PartitionTable.lossJump,
                       "after a crash the grid may have issued versions the database never saw")
        XCTAssertEqual(ColdStartLoader.continuation(nil, highestVersion: 7), 7 + PartitionTable.lossJump)
    }

    func testWorkflowStepsKeepTheirRequestIdAcrossCopies() {
        let first = ProcessingUnit.stepRequestID(section: "order", key: Array("o-1".utf8), step: "debit")
        XCTAssertEqual(first, ProcessingUnit.stepRequestID(section: "order", key: Array("o-1".utf8), step: "debit"), "every copy of a step is the same request")
        XCTAssertNotEqual(first.sequence, ProcessingUnit.stepRequestID(section: "order", key: Array("o-1".utf8), step: "reserve").sequence)
        XCTAssertNotEqual(first.client, ProcessingUnit.stepRequestID(section: "order", key: Array("o-2".utf8), step: "debit").client)
        let long = ProcessingUnit.stepRequestID(section: "order", key: Array(repeating: UInt8(ascii: "x"), count: 500), step: "debit")
        XCTAssertLessThanOrEqual(long.client.count, RequestID.maximumClientBytes)
    }
}
