import GridCore
import XCTest

/// A unit's data and leases: requests fenced by epoch, assignments keep or drop partitions.
final class UnitStoreTests: XCTestCase {
    private func assigned(_ leases: [Lease]) -> UnitStore {
        var store = UnitStore()
        XCTAssertEqual(store.onAssign(leases), [])
        return store
    }

    private func put(_ store: inout UnitStore, _ route: Route, _ key: String, _ value: String) -> OperationOutcome {
        store.handle(route: route, operation: .put, key: bytes(key), arguments: [bytes(value)])
    }

    private func assertFenced(_ outcome: OperationOutcome, holding: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(outcome.status, .misdirected, file: file, line: line)
        XCTAssertNil(outcome.change, file: file, line: line)
        let error = GridError(status: outcome.status, payload: outcome.payload)
        XCTAssertEqual(error.code, "stale_epoch", file: file, line: line)
        XCTAssertTrue(error.message.contains("(this unit holds \(holding))"), error.message, file: file, line: line)
    }

    func testAssignCreatesEmptyPartitionsAtTheLeaseEpoch() {
        let store = assigned([
            Lease(partition: 1, epoch: 4, role: .primary), Lease(partition: 2, epoch: 1, role: .primary),
            Lease(partition: 3, epoch: 2, role: .backup),
        ])
        XCTAssertEqual(store.partitions.keys.sorted(), [1, 2, 3])
        XCTAssertEqual(store.partitions[1]?.epoch, 4)
        XCTAssertEqual(store.partitions[1]?.sequence, 0)
        XCTAssertEqual(store.partitions[3]?.epoch, 2)
        XCTAssertEqual(store.leases[3], Lease(partition: 3, epoch: 2, role: .backup))
        XCTAssertEqual(store.primaryCount, 2)
        XCTAssertEqual(store.entryCount, 0)
    }

    func testARequestUnderTheLeaseEpochIsServed() {
        var store = assigned([Lease(partition: 1, epoch: 4, role: .primary)])
        let outcome = put(&store, Route(partition: 1, epoch: 4), "k", "v")
        XCTAssertEqual(outcome.status, .ok)
        XCTAssertEqual(outcome.change?.epoch, 4)
        XCTAssertEqual(outcome.change?.partition, 1)
        XCTAssertEqual(store.partitions[1]?.get(bytes("k"))?.value, bytes("v"))
        XCTAssertEqual(store.entryCount, 1)
    }

    func testRequestsAreFencedByEpochRoleAndPartition() {
        var store = assigned([Lease(partition: 1, epoch: 4, role: .primary), Lease(partition: 2, epoch: 7, role: .backup)])
        _ = put(&store, Route(partition: 1, epoch: 4), "k", "v")
        let snapshot = store.partitions

        assertFenced(put(&store, Route(partition: 1, epoch: 3), "k", "older"), holding: "epoch 4")
        assertFenced(put(&store, Route(partition: 1, epoch: 5), "k", "newer"), holding: "epoch 4")
        assertFenced(put(&store, Route(partition: 2, epoch: 7), "k", "backup"), holding: "epoch 7")
        assertFenced(put(&store, Route(partition: 9, epoch: 1), "k", "unknown"), holding: "no lease")
        assertFenced(store.handle(route: Route(partition: 1, epoch: 3), operation: .get, key: bytes("k"), arguments: []), holding: "epoch 4")

        XCTAssertEqual(store.partitions[1]?.sequence, snapshot[1]?.sequence, "nothing changed")
        XCTAssertEqual(store.partitions[1]?.entries, snapshot[1]?.entries)
        XCTAssertEqual(store.partitions[2]?.count, 0)
        XCTAssertNil(store.partitions[9])
    }

    func testReassignKeepsStillLeasedDataUnderTheNewEpochAndDropsTheRest() {
        var store = assigned([
            Lease(partition: 1, epoch: 1, role: .primary), Lease(partition: 2, epoch: 1, role: .primary),
            Lease(partition: 3, epoch: 1, role: .primary),
        ])
        _ = put(&store, Route(partition: 1, epoch: 1), "one", "1")
        _ = put(&store, Route(partition: 2, epoch: 1), "two", "2")
        _ = put(&store, Route(partition: 3, epoch: 1), "three", "3")

        let dropped = store.onAssign([Lease(partition: 1, epoch: 2, role: .primary), Lease(partition: 4, epoch: 3, role: .primary)])

        XCTAssertEqual(dropped, [2, 3], "sorted")
        XCTAssertEqual(store.partitions.keys.sorted(), [1, 4])
        XCTAssertEqual(store.partitions[1]?.epoch, 2)
        XCTAssertEqual(store.partitions[1]?.get(bytes("one")), Entry(value: bytes("1"), version: 1), "data kept")
        XCTAssertEqual(store.partitions[1]?.sequence, 1, "the sequence carries on")
        XCTAssertEqual(store.partitions[4]?.count, 0)
        XCTAssertEqual(store.entryCount, 1)

        // The old epoch is fenced out, the new one is served and stamps its changes.
        XCTAssertEqual(put(&store, Route(partition: 1, epoch: 1), "one", "x").status, .misdirected)
        let outcome = put(&store, Route(partition: 1, epoch: 2), "one", "y")
        XCTAssertEqual(outcome.change?.epoch, 2)
        XCTAssertEqual(outcome.change?.sequence, 2)
        // Dropped partitions are no longer served.
        XCTAssertEqual(put(&store, Route(partition: 2, epoch: 1), "two", "x").status, .misdirected)
    }

    func testDemotionToBackupKeepsDataButStopsServing() {
        var store = assigned([Lease(partition: 1, epoch: 1, role: .primary)])
        _ = put(&store, Route(partition: 1, epoch: 1), "k", "v")
        XCTAssertEqual(store.onAssign([Lease(partition: 1, epoch: 2, role: .backup)]), [])
        XCTAssertEqual(store.partitions[1]?.count, 1)
        XCTAssertEqual(store.primaryCount, 0)
        XCTAssertEqual(put(&store, Route(partition: 1, epoch: 2), "k", "w").status, .misdirected)
    }

    func testAnEmptyAssignmentDropsEverything() {
        var store = assigned([Lease(partition: 0, epoch: 1, role: .primary), Lease(partition: 5, epoch: 1, role: .backup)])
        XCTAssertEqual(store.onAssign([]), [0, 5])
        XCTAssertTrue(store.partitions.isEmpty)
        XCTAssertTrue(store.leases.isEmpty)
    }

    func testOperationErrorsPassThroughUnderAValidLease() {
        var store = assigned([Lease(partition: 0, epoch: 1, role: .primary)])
        let outcome = store.handle(route: Route(partition: 0, epoch: 1), operation: .get, key: bytes("missing"), arguments: [])
        XCTAssertEqual(outcome.status, .notFound)
    }
}
