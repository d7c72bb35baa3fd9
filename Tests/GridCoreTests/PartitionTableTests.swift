import GridCore
import XCTest

/// The broker's partition table without backups: placement, evenness, epochs, and what
/// happens to a partition whose only replica dies (PartitionTable.swift rules 1, 2, 4, 6).
final class PartitionTableTests: XCTestCase {
    // MARK: - Helpers

    private func table(partitions: Int = 6, expected: Int = 3, delay: UInt64 = 2_000, grace: UInt64 = 3_000, generation: UInt64 = 0) -> PartitionTable {
        PartitionTable(sections: [.init(name: "customer", partitioner: .hash(partitions: partitions), expectedUnits: expected)],
                       placementDelayMilliseconds: delay, lossGraceMilliseconds: grace, generation: generation)
    }

    /// A section's table as text: `p0:a@1 p1:b@1 p2:-@0`, primary `-` when none.
    private func render(_ table: PartitionTable, _ section: String = "customer") -> String {
        guard let state = table.sections[section] else { return "<no section>" }
        return state.slots.enumerated().map { "p\($0.offset):\($0.element.primary ?? "-")@\($0.element.epoch)" }.joined(separator: " ")
    }

    private func epochs(_ table: PartitionTable, _ section: String = "customer") -> [UInt64] {
        table.sections[section]!.slots.map(\.epoch)
    }

    /// Fresh leases (nothing to continue from: load from the database, from sequence 0).
    private func leased(_ section: String, _ pairs: [(Int, String)], epoch: UInt64, load: UInt64? = 0) -> [TableChange] {
        pairs.map { .leased(section: section, partition: $0.0, unit: $0.1, epoch: epoch, load: load) }
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
        XCTAssertEqual(table.assignments(of: "a").map(\.load), [0, 0], "a fresh lease loads from the database")
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

    /// With an expected unit missing, a partition nobody reported may be held by it (a
    /// restarted broker, a unit paused): it waits the grace before it is started afresh.
    func testWithAnExpectedUnitMissingPartitionsNobodyHoldsWaitTheGrace() {
        var table = table(expected: 3, delay: 2_000, grace: 3_000)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 1_000)
        _ = table.onUnitReady(section: "customer", unit: "b", now: 1_500)
        XCTAssertEqual(table.onTick(now: 2_999), [], "the delay counts from the first join, not the last")
        XCTAssertEqual(table.onTick(now: 3_000), [.placed(section: "customer")])
        XCTAssertTrue(table.sections["customer"]!.placed)
        XCTAssertEqual(table.sections["customer"]!.orphanCount, 6)
        XCTAssertEqual(table.onTick(now: 5_999), [])
        XCTAssertEqual(table.onTick(now: 6_000), leased("customer", [(0, "a"), (1, "b"), (2, "a"), (3, "b"), (4, "a"), (5, "b")], epoch: 1),
                       "nobody reported holding them: started afresh, not announced lost")
        XCTAssertEqual(render(table), "p0:a@1 p1:b@1 p2:a@1 p3:b@1 p4:a@1 p5:b@1")
        XCTAssertEqual(table.onTick(now: 10_000), [], "a placed section is not placed again")
    }

    func testTheMissingUnitJoiningEndsTheWait() {
        var table = table(expected: 3, delay: 2_000)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        _ = table.onUnitReady(section: "customer", unit: "b", now: 0)
        XCTAssertEqual(table.onTick(now: 2_000), [.placed(section: "customer")])
        let changes = table.onUnitReady(section: "customer", unit: "c", now: 2_100)
        XCTAssertEqual(changes, [.unitJoined(section: "customer", unit: "c")]
                       + leased("customer", [(0, "a"), (1, "b"), (2, "c"), (3, "a"), (4, "b"), (5, "c")], epoch: 1))
        XCTAssertTrue(table.isComplete)
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
            .init(name: "customer", partitioner: .hash(partitions: 2), expectedUnits: 1),
            .init(name: "product", partitioner: .range([0..<10, 10..<20, 20..<30]), expectedUnits: 1),
        ], placementDelayMilliseconds: 100)
        _ = table.onUnitReady(section: "product", unit: "p1", now: 0)
        XCTAssertEqual(render(table, "product"), "p0:p1@1 p1:p1@1 p2:p1@1")
        XCTAssertFalse(table.isComplete, "customer is not placed yet")
        _ = table.onUnitReady(section: "customer", unit: "c1", now: 50)
        XCTAssertTrue(table.isComplete)
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

    func testEveryLeaseEpochStartsAtOneAndAboveTheGenerationFloorAfterARestart() {
        var table = table(partitions: 271, expected: 3)
        for unit in ["a", "b", "c"] { _ = table.onUnitReady(section: "customer", unit: unit, now: 0) }
        XCTAssertEqual(Set(epochs(table)), [1])
        var restarted = self.table(partitions: 4, expected: 1, generation: 2)
        _ = restarted.onUnitReady(section: "customer", unit: "a", now: 0)
        XCTAssertEqual(Set(epochs(restarted)), [2 << PartitionTable.generationShift + 1],
                       "a restarted broker grants epochs no earlier broker granted")
    }

    // MARK: - The only replica dies

    func testAPartitionWhoseOnlyReplicaDiedWaitsTheGraceThenStartsAfreshAboveWhatWasReported() {
        var table = table(partitions: 6, expected: 3, grace: 3_000)
        for unit in ["a", "b", "c"] { _ = table.onUnitReady(section: "customer", unit: unit, now: 0) }
        _ = table.onReport(unit: "b", holdings: [Holding(partition: 1, role: .primary, epoch: 1, sequence: 40, inSync: true)])
        let changes = table.onUnitsDead(["b"], now: 100)
        XCTAssertEqual(changes, [.unitLeft(section: "customer", unit: "b"),
                                 .orphaned(section: "customer", partition: 1, previous: "b"),
                                 .orphaned(section: "customer", partition: 4, previous: "b")])
        XCTAssertEqual(render(table), "p0:a@1 p1:-@1 p2:c@1 p3:a@1 p4:-@1 p5:c@1")
        XCTAssertEqual(table.onTick(now: 3_099), [], "a paused b may still come back")
        let lost = table.onTick(now: 3_100)
        XCTAssertEqual(lost, [.lost(section: "customer", partition: 1),
                              .leased(section: "customer", partition: 1, unit: "a", epoch: 2, load: 40 + PartitionTable.lossJump),
                              .lost(section: "customer", partition: 4),
                              .leased(section: "customer", partition: 4, unit: "c", epoch: 2, load: PartitionTable.lossJump)])
        XCTAssertTrue(table.isComplete)
    }

    func testAPausedUnitBackWithinTheGraceTakesItsPartitionsBack() {
        var table = table(partitions: 4, expected: 2)
        for unit in ["a", "b"] { _ = table.onUnitReady(section: "customer", unit: unit, now: 0) }
        _ = table.onUnitsDead(["b"], now: 100)
        let back = table.onUnitReady(section: "customer", unit: "b", holdings: [
            Holding(partition: 1, role: .primary, epoch: 1, sequence: 9, inSync: true),
            Holding(partition: 3, role: .primary, epoch: 1, sequence: 4, inSync: true),
        ], now: 1_000)
        XCTAssertEqual(back, [.unitJoined(section: "customer", unit: "b"),
                              .promoted(section: "customer", partition: 1, unit: "b", epoch: 2, previous: nil, sequence: 9),
                              .promoted(section: "customer", partition: 3, unit: "b", epoch: 2, previous: nil, sequence: 4)])
        XCTAssertEqual(render(table), "p0:a@1 p1:b@2 p2:a@1 p3:b@2")
        XCTAssertEqual(table.assignments(of: "b").map(\.load), [nil, nil], "it keeps its data: no load")
    }

    /// A unit under the same name without the partition is a new process: the old one, the
    /// only holder, is gone for good, so the partition starts again at once.
    func testAUnitRestartedUnderTheSameNameGivesItsPartitionsUpAtOnce() {
        var table = table(partitions: 4, expected: 2)
        for unit in ["a", "b"] { _ = table.onUnitReady(section: "customer", unit: unit, now: 0) }
        _ = table.onUnitsDead(["b"], now: 100)
        let changes = table.onUnitReady(section: "customer", unit: "b", now: 200)
        XCTAssertEqual(changes, [.unitJoined(section: "customer", unit: "b"),
                                 .lost(section: "customer", partition: 1),
                                 .leased(section: "customer", partition: 1, unit: "b", epoch: 2, load: PartitionTable.lossJump),
                                 .lost(section: "customer", partition: 3),
                                 .leased(section: "customer", partition: 3, unit: "b", epoch: 2, load: PartitionTable.lossJump)])
    }

    func testAUnitRegisteringAgainWhileCountedLiveIsFirstTakenForDead() {
        var table = table(partitions: 2, expected: 1)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        let changes = table.onUnitReady(section: "customer", unit: "a", holdings: [
            Holding(partition: 0, role: .primary, epoch: 1, sequence: 3, inSync: true),
        ], now: 10)
        XCTAssertEqual(changes, [.unitLeft(section: "customer", unit: "a"),
                                 .orphaned(section: "customer", partition: 0, previous: "a"),
                                 .orphaned(section: "customer", partition: 1, previous: "a"),
                                 .unitJoined(section: "customer", unit: "a"),
                                 .promoted(section: "customer", partition: 0, unit: "a", epoch: 2, previous: nil, sequence: 3),
                                 .lost(section: "customer", partition: 1),
                                 .leased(section: "customer", partition: 1, unit: "a", epoch: 2, load: PartitionTable.lossJump)])
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
        // When a unit dies and its partitions are started afresh, the newcomer (fewest primaries) takes them first.
        _ = table.onUnitsDead(["a"], now: 20)
        _ = table.onTick(now: 20 + table.lossGraceMilliseconds)
        XCTAssertEqual(table.sections["customer"]!.primaryCounts, ["b": 136, "c": 135])
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
                .init(name: "customer", partitioner: .hash(partitions: 31), expectedUnits: random.below(5)),
                .init(name: "order", partitioner: .range([0..<5, 5..<10, 10..<20]), expectedUnits: random.below(4)),
            ], placementDelayMilliseconds: 300, lossGraceMilliseconds: 500)
            var now: UInt64 = 0
            var granted: [String: [Int: Set<UInt64>]] = [:]
            for step in 0..<200 {
                let before = table.sections
                switch random.below(10) {
                case 0..<4:
                    let section = random.below(2) == 0 ? "customer" : "order"
                    _ = table.onUnitReady(section: section, unit: names[random.below(names.count)], now: now)
                case 4..<6:
                    _ = table.onUnitsDead([names[random.below(names.count)], names[random.below(names.count)]], now: now)
                default:
                    now += UInt64(random.below(400))
                    _ = table.onTick(now: now)
                }
                let context = "round \(round) step \(step)"
                for (name, state) in table.sections {
                    let old = before[name]!
                    for partition in state.slots.indices {
                        let slot = state.slots[partition], previous = old.slots[partition]
                        XCTAssertGreaterThanOrEqual(slot.epoch, previous.epoch, "\(context): epochs never decrease")
                        if let primary = slot.primary, primary != previous.primary || slot.epoch != previous.epoch {
                            XCTAssertGreaterThan(slot.epoch, previous.epoch, "\(context): a new lease comes with a new epoch")
                            XCTAssertFalse(granted[name, default: [:]][partition, default: []].contains(slot.epoch), "\(context): an epoch granted twice")
                            granted[name, default: [:]][partition, default: []].insert(slot.epoch)
                        }
                        if let primary = slot.primary {
                            XCTAssert(state.units.contains(primary), "\(context): the primary \(primary) of \(name) p\(partition) is live")
                            XCTAssertEqual(table.unitSections[primary], name)
                            XCTAssertNil(slot.orphan, context)
                        } else if state.placed {
                            XCTAssertNotNil(slot.orphan, "\(context): a placed partition without a primary waits as an orphan")
                        }
                    }
                    XCTAssertEqual(state.units, state.units.sorted())
                    XCTAssertEqual(Set(state.units).count, state.units.count)
                }
            }
        }
    }
}
