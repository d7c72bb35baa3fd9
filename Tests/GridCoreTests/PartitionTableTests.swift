import GridCore
import XCTest

/// The broker's partition table: placement, evenness, epochs, failover (PartitionTable.swift rules 1-4).
final class PartitionTableTests: XCTestCase {
    // MARK: - Helpers

    private func table(partitions: Int = 6, expected: Int = 3, delay: UInt64 = 2_000) -> PartitionTable {
        PartitionTable(sections: [.init(name: "customer", partitioner: .hash(partitions: partitions), expectedUnits: expected)],
                       placementDelayMilliseconds: delay)
    }

    /// A section's table as text: `p0:a@1 p1:b@1 p2:-@0`, primary `-` when none.
    private func render(_ table: PartitionTable, _ section: String = "customer") -> String {
        guard let state = table.sections[section] else { return "<no section>" }
        return state.slots.enumerated().map { "p\($0.offset):\($0.element.primary ?? "-")@\($0.element.epoch)" }.joined(separator: " ")
    }

    private func epochs(_ table: PartitionTable, _ section: String = "customer") -> [UInt64] {
        table.sections[section]!.slots.map(\.epoch)
    }

    private func primaries(_ table: PartitionTable, _ section: String = "customer") -> [String?] {
        table.sections[section]!.slots.map(\.primary)
    }

    private func leased(_ section: String, _ pairs: [(Int, String)], epoch: UInt64) -> [TableChange] {
        pairs.map { .leased(section: section, partition: $0.0, unit: $0.1, epoch: epoch) }
    }

    // MARK: - Initial placement

    func testPlacementWaitsForTheExpectedUnits() {
        var table = table()
        XCTAssertEqual(table.onUnitReady(section: "customer", unit: "b", now: 0), [.unitJoined(section: "customer", unit: "b")])
        XCTAssertEqual(table.onUnitReady(section: "customer", unit: "a", now: 10), [.unitJoined(section: "customer", unit: "a")])
        XCTAssertFalse(table.sections["customer"]!.placed)
        XCTAssertEqual(render(table), "p0:-@0 p1:-@0 p2:-@0 p3:-@0 p4:-@0 p5:-@0")
        XCTAssertNil(table.primary(section: "customer", partition: 0))
        XCTAssertEqual(table.leases(of: "a"), [])
        XCTAssertFalse(table.isComplete)

        let changes = table.onUnitReady(section: "customer", unit: "c", now: 20)
        XCTAssertEqual(changes,
                       [.unitJoined(section: "customer", unit: "c")]
                       + leased("customer", [(0, "a"), (1, "b"), (2, "c"), (3, "a"), (4, "b"), (5, "c")], epoch: 1)
                       + [.placed(section: "customer")])
        XCTAssertEqual(render(table), "p0:a@1 p1:b@1 p2:c@1 p3:a@1 p4:b@1 p5:c@1")
        XCTAssertTrue(table.sections["customer"]!.placed)
        XCTAssertTrue(table.isComplete)
    }

    func testAUnitThatDiesBeforePlacementDoesNotStartTheDelayForLaterUnits() {
        var table = table(partitions: 271, expected: 3, delay: 2_000)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        _ = table.onUnitDead(unit: "a")
        _ = table.onUnitReady(section: "customer", unit: "b", now: 2_500)
        XCTAssertFalse(table.sections["customer"]!.placed, "the delay runs from b's join, not a's")
        _ = table.onUnitReady(section: "customer", unit: "c", now: 2_510)
        _ = table.onUnitReady(section: "customer", unit: "d", now: 2_520)
        XCTAssertTrue(table.sections["customer"]!.placed)
        XCTAssertEqual(table.sections["customer"]!.primaryCounts, ["b": 91, "c": 90, "d": 90])
    }

    func testAnOutOfRangePartitionHasNoPrimary() {
        var table = table(expected: 1)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        XCTAssertNotNil(table.primary(section: "customer", partition: 5))
        XCTAssertNil(table.primary(section: "customer", partition: 6))
        XCTAssertNil(table.primary(section: "customer", partition: -1))
    }

    func testPlacementHappensAfterTheDelayWithTheUnitsPresent() {
        var table = table(expected: 3, delay: 2_000)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 1_000)
        _ = table.onUnitReady(section: "customer", unit: "b", now: 1_500)
        XCTAssertEqual(table.onTick(now: 1_999), [])
        XCTAssertEqual(table.onTick(now: 2_999), [], "the delay counts from the first join, not the last")
        XCTAssertFalse(table.sections["customer"]!.placed)
        let changes = table.onTick(now: 3_000)
        XCTAssertEqual(changes,
                       leased("customer", [(0, "a"), (1, "b"), (2, "a"), (3, "b"), (4, "a"), (5, "b")], epoch: 1)
                       + [.placed(section: "customer")])
        XCTAssertEqual(render(table), "p0:a@1 p1:b@1 p2:a@1 p3:b@1 p4:a@1 p5:b@1")
        XCTAssertEqual(table.onTick(now: 10_000), [], "a placed section is not placed again")
    }

    func testAJoinAfterTheDelayPlacesAtOnce() {
        var table = table(expected: 3, delay: 2_000)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        let changes = table.onUnitReady(section: "customer", unit: "b", now: 2_000)
        XCTAssertEqual(changes.last, .placed(section: "customer"))
        XCTAssertEqual(render(table), "p0:a@1 p1:b@1 p2:a@1 p3:b@1 p4:a@1 p5:b@1")
    }

    func testNoPlacementWithoutUnitsOrWhenTheClockIsBehindTheFirstJoin() {
        var table = table(expected: 2, delay: 100)
        XCTAssertEqual(table.onTick(now: 1_000_000), [], "nothing joined: nothing to place")
        _ = table.onUnitReady(section: "customer", unit: "a", now: 5_000)
        XCTAssertEqual(table.onTick(now: 4_000), [], "a clock before the first join must not count as waited")
        XCTAssertFalse(table.sections["customer"]!.placed)
    }

    func testTickPlacesEverySectionWhoseDelayRanOut() {
        var table = PartitionTable(sections: [
            .init(name: "customer", partitioner: .hash(partitions: 2), expectedUnits: 5),
            .init(name: "product", partitioner: .range([0..<10, 10..<20, 20..<30]), expectedUnits: 5),
        ], placementDelayMilliseconds: 100)
        _ = table.onUnitReady(section: "product", unit: "p1", now: 0)
        _ = table.onUnitReady(section: "customer", unit: "c1", now: 50)
        XCTAssertEqual(table.onTick(now: 100), leased("product", [(0, "p1"), (1, "p1"), (2, "p1")], epoch: 1) + [.placed(section: "product")])
        XCTAssertFalse(table.isComplete, "customer is not placed yet")
        XCTAssertEqual(table.onTick(now: 150), leased("customer", [(0, "c1"), (1, "c1")], epoch: 1) + [.placed(section: "customer")])
        XCTAssertTrue(table.isComplete)
        XCTAssertEqual(render(table, "product"), "p0:p1@1 p1:p1@1 p2:p1@1")
    }

    func testExpectedUnitsOfZeroPlacesOnTheFirstJoin() {
        var table = table(partitions: 3, expected: 0)
        let changes = table.onUnitReady(section: "customer", unit: "solo", now: 0)
        XCTAssertEqual(changes.last, .placed(section: "customer"))
        XCTAssertEqual(render(table), "p0:solo@1 p1:solo@1 p2:solo@1")
    }

    // MARK: - Evenness and determinism

    func testEvenOverTwoUnits() {
        var table = table(partitions: 271, expected: 2)
        _ = table.onUnitReady(section: "customer", unit: "customer-1", now: 0)
        _ = table.onUnitReady(section: "customer", unit: "customer-2", now: 0)
        XCTAssertEqual(table.sections["customer"]!.primaryCounts, ["customer-1": 136, "customer-2": 135])
        XCTAssertEqual(table.sections["customer"]!.orphanCount, 0)
    }

    func testEvenOverAnyNumberOfUnits() {
        for count in 1...12 {
            var table = table(partitions: 271, expected: count)
            for index in 1...count { _ = table.onUnitReady(section: "customer", unit: "u\(index)", now: 0) }
            let counts = table.sections["customer"]!.primaryCounts
            XCTAssertEqual(counts.count, count)
            XCTAssertEqual(counts.values.reduce(0, +), 271)
            XCTAssertLessThanOrEqual(counts.values.max()! - counts.values.min()!, 1, "\(count) units: \(counts)")
            if count == 3 { XCTAssertEqual(counts, ["u1": 91, "u2": 90, "u3": 90]) }
        }
    }

    func testSameJoinsGiveTheSameTableWhateverTheirOrder() {
        var first = table(partitions: 271, expected: 3)
        var second = table(partitions: 271, expected: 3)
        for unit in ["b", "c", "a"] { _ = first.onUnitReady(section: "customer", unit: unit, now: 0) }
        for unit in ["c", "a", "b"] { _ = second.onUnitReady(section: "customer", unit: unit, now: 0) }
        XCTAssertEqual(first.sections["customer"]!.slots, second.sections["customer"]!.slots)
        // Dealt by name: p mod 3 -> a, b, c.
        XCTAssertEqual(first.primary(section: "customer", partition: 0)?.unit, "a")
        XCTAssertEqual(first.primary(section: "customer", partition: 1)?.unit, "b")
        XCTAssertEqual(first.primary(section: "customer", partition: 270)?.unit, "a")
        XCTAssertEqual(first.sections["customer"]!.units, ["a", "b", "c"])
    }

    func testEveryLeaseEpochStartsAtOne() {
        var table = table(partitions: 271, expected: 3)
        for unit in ["a", "b", "c"] { _ = table.onUnitReady(section: "customer", unit: unit, now: 0) }
        XCTAssertEqual(Set(epochs(table)), [1])
        XCTAssertEqual(table.primary(section: "customer", partition: 17)?.epoch, 1)
    }

    // MARK: - Failover

    func testADeadUnitsPartitionsMoveEvenlyToTheSurvivorsWithTheirEpochBumpedOnce() {
        var table = table(partitions: 271, expected: 3)
        for unit in ["a", "b", "c"] { _ = table.onUnitReady(section: "customer", unit: unit, now: 0) }
        let before = table.sections["customer"]!.slots
        let lost = before.indices.filter { before[$0].primary == "b" }
        XCTAssertEqual(lost.count, 90)

        let changes = table.onUnitDead(unit: "b")

        XCTAssertEqual(changes.first, .unitLeft(section: "customer", unit: "b"))
        let orphaned = changes.compactMap { change -> Int? in
            if case .orphaned("customer", let partition, "b") = change { return partition } else { return nil }
        }
        XCTAssertEqual(orphaned, lost)
        let leasedNow = changes.compactMap { change -> Int? in
            if case .leased("customer", let partition, _, 2) = change { return partition } else { return nil }
        }
        XCTAssertEqual(leasedNow, lost)
        let lostNow = changes.compactMap { change -> Int? in
            if case .lost("customer", let partition) = change { return partition } else { return nil }
        }
        XCTAssertEqual(lostNow, lost, "without backups, no replica lived: each partition starts again, empty")
        XCTAssertEqual(changes.count, 1 + 90 + 90 + 90)
        // Orphaned first, then for each partition: lost, then leased.
        XCTAssertEqual(changes[91], .lost(section: "customer", partition: lost[0]))
        if case .leased("customer", lost[0], _, 2) = changes[92] {} else { XCTFail("\(changes[92])") }

        let after = table.sections["customer"]!.slots
        for partition in after.indices {
            if lost.contains(partition) {
                XCTAssertEqual(after[partition].epoch, before[partition].epoch + 1, "p\(partition)")
                XCTAssertNotEqual(after[partition].primary, "b")
                XCTAssertNotNil(after[partition].primary)
            } else {
                XCTAssertEqual(after[partition], before[partition], "p\(partition) was not b's and must not move")
            }
        }
        XCTAssertEqual(table.sections["customer"]!.primaryCounts, ["a": 136, "c": 135])
        XCTAssertEqual(table.sections["customer"]!.units, ["a", "c"])
        XCTAssertEqual(table.leases(of: "b"), [])
        XCTAssertTrue(table.isComplete)
    }

    func testFailoverInSmallTableText() {
        var table = table(partitions: 6, expected: 3)
        for unit in ["a", "b", "c"] { _ = table.onUnitReady(section: "customer", unit: unit, now: 0) }
        _ = table.onUnitDead(unit: "a")
        // a led p0 and p3: fewest primaries first, then by name (b and c both lead 2).
        XCTAssertEqual(render(table), "p0:b@2 p1:b@1 p2:c@1 p3:c@2 p4:b@1 p5:c@1")
        XCTAssertEqual(table.onUnitDead(unit: "a"), [], "a unit dies once")
        _ = table.onUnitDead(unit: "c")
        XCTAssertEqual(render(table), "p0:b@2 p1:b@1 p2:b@2 p3:b@3 p4:b@1 p5:b@2")
    }

    func testLastUnitDyingOrphansEverythingUntilAnotherJoins() {
        var table = table(partitions: 4, expected: 1)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        let changes = table.onUnitDead(unit: "a")
        XCTAssertEqual(changes, [.unitLeft(section: "customer", unit: "a")]
                       + (0..<4).map { .orphaned(section: "customer", partition: $0, previous: "a") })
        XCTAssertEqual(render(table), "p0:-@1 p1:-@1 p2:-@1 p3:-@1")
        XCTAssertEqual(table.sections["customer"]!.orphanCount, 4)
        XCTAssertFalse(table.isComplete)
        XCTAssertNil(table.primary(section: "customer", partition: 2))

        let rejoin = table.onUnitReady(section: "customer", unit: "z", now: 99_999)
        XCTAssertEqual(rejoin, [.unitJoined(section: "customer", unit: "z")] + (0..<4).flatMap { partition -> [TableChange] in
            [.lost(section: "customer", partition: partition), .leased(section: "customer", partition: partition, unit: "z", epoch: 2)]
        })
        XCTAssertEqual(render(table), "p0:z@2 p1:z@2 p2:z@2 p3:z@2")
        XCTAssertTrue(table.isComplete)
    }

    func testADeathBeforePlacementOrphansNothing() {
        var table = table(partitions: 4, expected: 2)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        XCTAssertEqual(table.onUnitDead(unit: "a"), [.unitLeft(section: "customer", unit: "a")])
        XCTAssertEqual(table.sections["customer"]!.units, [])
        XCTAssertFalse(table.sections["customer"]!.placed)
        XCTAssertEqual(render(table), "p0:-@0 p1:-@0 p2:-@0 p3:-@0")
    }

    // MARK: - Joins after placement

    func testANewcomerAfterPlacementGetsNoPrimaries() {
        var table = table(partitions: 271, expected: 2)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        _ = table.onUnitReady(section: "customer", unit: "b", now: 0)
        let before = table.sections["customer"]!.slots
        XCTAssertEqual(table.onUnitReady(section: "customer", unit: "c", now: 10), [.unitJoined(section: "customer", unit: "c")])
        XCTAssertEqual(table.sections["customer"]!.slots, before, "a live unit never loses a partition to a newcomer")
        XCTAssertEqual(table.leases(of: "c"), [])
        XCTAssertEqual(table.sections["customer"]!.primaryCounts, ["a": 136, "b": 135, "c": 0])

        // When a unit dies, the newcomer (fewest primaries) takes its partitions first.
        _ = table.onUnitDead(unit: "a")
        XCTAssertEqual(table.sections["customer"]!.primaryCounts, ["b": 136, "c": 135])
    }

    func testAUnitRejoiningUnderTheSameNameIsANewIncarnation() {
        var table = table(partitions: 6, expected: 2)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        _ = table.onUnitReady(section: "customer", unit: "b", now: 0)
        XCTAssertEqual(render(table), "p0:a@1 p1:b@1 p2:a@1 p3:b@1 p4:a@1 p5:b@1")

        let changes = table.onUnitReady(section: "customer", unit: "a", now: 50)
        // The old a is gone: its partitions fail over to b, then the new a joins with nothing.
        XCTAssertEqual(changes,
                       [.unitLeft(section: "customer", unit: "a")]
                       + [0, 2, 4].map { .orphaned(section: "customer", partition: $0, previous: "a") }
                       + [0, 2, 4].flatMap { [.lost(section: "customer", partition: $0)] + leased("customer", [($0, "b")], epoch: 2) }
                       + [.unitJoined(section: "customer", unit: "a")])
        XCTAssertEqual(render(table), "p0:b@2 p1:b@1 p2:b@2 p3:b@1 p4:b@2 p5:b@1")
        XCTAssertEqual(table.sections["customer"]!.units, ["a", "b"])
        XCTAssertEqual(table.leases(of: "a"), [])
        XCTAssertEqual(table.unitSections["a"], "customer")
    }

    func testTheOnlyUnitRejoiningGetsItsPartitionsBackUnderANewEpoch() {
        var table = table(partitions: 3, expected: 1)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 1)
        XCTAssertEqual(render(table), "p0:a@2 p1:a@2 p2:a@2",
                       "same name, but the new process must not be fenced in by the old epoch")
        XCTAssertEqual(table.sections["customer"]!.units, ["a"])
    }

    func testAUnitMovingToAnotherSectionLeavesTheFirst() {
        var table = PartitionTable(sections: [
            .init(name: "customer", partitioner: .hash(partitions: 2), expectedUnits: 1),
            .init(name: "product", partitioner: .hash(partitions: 2), expectedUnits: 1),
        ])
        _ = table.onUnitReady(section: "customer", unit: "x", now: 0)
        _ = table.onUnitReady(section: "product", unit: "x", now: 1)
        XCTAssertEqual(table.unitSections["x"], "product")
        XCTAssertEqual(table.sections["customer"]!.units, [])
        XCTAssertEqual(table.sections["customer"]!.orphanCount, 2)
        XCTAssertEqual(table.leases(of: "x"), [Lease(partition: 0, epoch: 1, role: .primary), Lease(partition: 1, epoch: 1, role: .primary)])
    }

    // MARK: - Unknown sections, queries

    func testUnknownSectionsAreIgnored() {
        var table = table()
        XCTAssertEqual(table.onUnitReady(section: "nope", unit: "a", now: 0), [])
        XCTAssertNil(table.unitSections["a"])
        XCTAssertNil(table.sections["nope"])
        XCTAssertEqual(table.leases(of: "a"), [])
        XCTAssertEqual(table.onUnitDead(unit: "a"), [])
        XCTAssertEqual(table.onUnitDead(unit: "never-seen"), [])
        XCTAssertNil(table.primary(section: "nope", partition: 0))
    }

    func testLeasesOfAUnitAreItsPrimariesSortedByPartition() {
        var table = table(partitions: 7, expected: 2)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        _ = table.onUnitReady(section: "customer", unit: "b", now: 0)
        XCTAssertEqual(table.leases(of: "a"), [0, 2, 4, 6].map { Lease(partition: $0, epoch: 1, role: .primary) })
        XCTAssertEqual(table.leases(of: "b"), [1, 3, 5].map { Lease(partition: $0, epoch: 1, role: .primary) })
        _ = table.onUnitDead(unit: "b")
        XCTAssertEqual(table.leases(of: "a"), [
            Lease(partition: 0, epoch: 1, role: .primary), Lease(partition: 1, epoch: 2, role: .primary),
            Lease(partition: 2, epoch: 1, role: .primary), Lease(partition: 3, epoch: 2, role: .primary),
            Lease(partition: 4, epoch: 1, role: .primary), Lease(partition: 5, epoch: 2, role: .primary),
            Lease(partition: 6, epoch: 1, role: .primary),
        ])
    }

    func testIsCompleteNeedsEverySectionPlacedWithoutOrphans() {
        var table = PartitionTable(sections: [
            .init(name: "customer", partitioner: .hash(partitions: 3), expectedUnits: 1),
            .init(name: "order", partitioner: .hash(partitions: 3), expectedUnits: 1),
        ])
        XCTAssertFalse(table.isComplete)
        _ = table.onUnitReady(section: "customer", unit: "c", now: 0)
        XCTAssertFalse(table.isComplete, "order has no primary")
        _ = table.onUnitReady(section: "order", unit: "o", now: 0)
        XCTAssertTrue(table.isComplete)
        _ = table.onUnitDead(unit: "o")
        XCTAssertFalse(table.isComplete)
        XCTAssertTrue(PartitionTable(sections: []).isComplete, "no sections: nothing is missing")
    }

    // MARK: - Randomized invariants

    func testInvariantsHoldOverARandomSequenceOfJoinsDeathsAndTicks() {
        var random = SplitMix64(seed: 0x5eed_0001)
        let names = ["a", "b", "c", "d", "e", "f"]
        for round in 0..<40 {
            var table = PartitionTable(sections: [
                .init(name: "customer", partitioner: .hash(partitions: 31), expectedUnits: Int.random(in: 0...4, using: &random)),
                .init(name: "order", partitioner: .range([0..<5, 5..<10, 10..<20]), expectedUnits: Int.random(in: 0...3, using: &random)),
            ], placementDelayMilliseconds: 300)
            var now: UInt64 = 0
            for step in 0..<200 {
                let before = table.sections
                let changes: [TableChange]
                switch Int.random(in: 0..<10, using: &random) {
                case 0..<4:
                    let section = Bool.random(using: &random) ? "customer" : "order"
                    changes = table.onUnitReady(section: section, unit: names.randomElement(using: &random)!, now: now)
                case 4..<7:
                    changes = table.onUnitDead(unit: names.randomElement(using: &random)!)
                default:
                    now += UInt64.random(in: 0...200, using: &random)
                    changes = table.onTick(now: now)
                }
                let context = "round \(round) step \(step)"
                for (name, state) in table.sections {
                    let old = before[name]!
                    for partition in state.slots.indices {
                        let slot = state.slots[partition], previous = old.slots[partition]
                        XCTAssertGreaterThanOrEqual(slot.epoch, previous.epoch, "\(context): epochs never decrease")
                        XCTAssertLessThanOrEqual(slot.epoch, previous.epoch + 1, "\(context): at most one bump per event")
                        if let primary = slot.primary, primary != previous.primary {
                            XCTAssertEqual(slot.epoch, previous.epoch + 1, "\(context): a new primary comes with a new epoch")
                        }
                        if let primary = slot.primary {
                            XCTAssert(state.units.contains(primary), "\(context): the primary \(primary) of \(name) p\(partition) is live")
                            XCTAssertEqual(table.unitSections[primary], name)
                        }
                    }
                    if state.placed && !state.units.isEmpty {
                        XCTAssertEqual(state.orphanCount, 0, "\(context): \(name) has live units but orphaned partitions")
                    }
                    XCTAssertEqual(state.units, state.units.sorted())
                    XCTAssertEqual(Set(state.units).count, state.units.count)
                }
                // Every leased change matches the table it produced.
                for change in changes {
                    if case .leased(let section, let partition, let unit, let epoch) = change {
                        let slot = table.sections[section]!.slots[partition]
                        XCTAssertEqual(slot.epoch, epoch, context)
                        XCTAssertEqual(slot.primary, unit, context)
                    }
                }
                // A unit's leases are exactly the slots it leads (no backups without a `backups` count).
                for unit in names {
                    let leases = table.leases(of: unit)
                    XCTAssertEqual(leases.map(\.partition), leases.map(\.partition).sorted())
                    if let section = table.unitSections[unit] {
                        let led = table.sections[section]!.slots.enumerated().filter { $0.element.primary == unit }
                        XCTAssertEqual(leases, led.map { Lease(partition: $0.offset, epoch: $0.element.epoch, role: .primary) }, context)
                        XCTAssertTrue(table.sections[section]!.slots.allSatisfy { $0.backups.isEmpty }, context)
                    } else {
                        XCTAssertEqual(leases, [], context)
                    }
                }
            }
        }
    }
}
