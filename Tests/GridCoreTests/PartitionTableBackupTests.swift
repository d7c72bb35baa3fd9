import GridCore
import XCTest

/// The partition table with backups: placement of replicas, promotion on failure,
/// epochs, and the rebuild from units' reports after a broker restart (PartitionTable.swift rules 2-5).
final class PartitionTableBackupTests: XCTestCase {
    // MARK: - Helpers

    private func table(partitions: Int = 6, expected: Int = 3, backups: Int = 1, delay: UInt64 = 2_000) -> PartitionTable {
        PartitionTable(sections: [.init(name: "customer", partitioner: .hash(partitions: partitions), expectedUnits: expected, backups: backups)],
                       placementDelayMilliseconds: delay)
    }

    private func placed(_ units: [String], partitions: Int = 6, backups: Int = 1) -> PartitionTable {
        var table = table(partitions: partitions, expected: units.count, backups: backups)
        for unit in units { _ = table.onUnitReady(section: "customer", unit: unit, now: 0) }
        XCTAssertTrue(table.sections["customer"]!.placed)
        return table
    }

    private func slots(_ table: PartitionTable) -> [PartitionTable.Slot] { table.sections["customer"]!.slots }

    /// `p0:a@1[b,c] p1:...`: primary, epoch and backups of every partition.
    private func render(_ table: PartitionTable) -> String {
        slots(table).enumerated().map { "p\($0.offset):\($0.element.primary ?? "-")@\($0.element.epoch)[\($0.element.backups.joined(separator: ","))]" }
            .joined(separator: " ")
    }

    private func backupHolding(_ partition: Int, epoch: UInt64 = 1, sequence: UInt64, inSync: Bool = true) -> Holding {
        Holding(partition: partition, role: .backup, epoch: epoch, sequence: sequence, inSync: inSync)
    }

    private func primaryHolding(_ partition: Int, epoch: UInt64, sequence: UInt64) -> Holding {
        Holding(partition: partition, role: .primary, epoch: epoch, sequence: sequence, inSync: true)
    }

    /// Checks the structural rules on every slot of a placed section.
    private func assertWellFormed(_ table: PartitionTable, _ context: String = "", file: StaticString = #filePath, line: UInt = #line) {
        let state = table.sections["customer"]!
        for (partition, slot) in state.slots.enumerated() {
            guard let primary = slot.primary else {
                XCTFail("\(context) p\(partition) has no primary", file: file, line: line)
                continue
            }
            XCTAssertFalse(slot.backups.contains(primary), "\(context) p\(partition): a backup on its primary's unit", file: file, line: line)
            XCTAssertEqual(Set(slot.backups).count, slot.backups.count, "\(context) p\(partition): a backup twice", file: file, line: line)
            XCTAssertEqual(slot.backups.count, state.desiredBackups, "\(context) p\(partition): backups", file: file, line: line)
            for unit in [primary] + slot.backups {
                XCTAssertTrue(state.units.contains(unit), "\(context) p\(partition): \(unit) is not live", file: file, line: line)
            }
        }
    }

    // MARK: - Placement of backups

    func testBackupsAreSpreadEvenlyAndNeverOnThePrimarysUnit() {
        for (units, backups, expectedBackups) in [
            (["a", "b"], 1, ["a": 135, "b": 136]),
            (["a", "b", "c"], 1, ["a": 90, "b": 91, "c": 90]),
            (["a", "b", "c"], 2, ["a": 180, "b": 181, "c": 181]),
            (["a", "b"], 2, ["a": 135, "b": 136]),          // capped at units - 1
        ] {
            let context = "\(units.count) units, \(backups) backups"
            let table = placed(units, partitions: 271, backups: backups)
            assertWellFormed(table, context)
            let state = table.sections["customer"]!
            XCTAssertEqual(state.desiredBackups, min(backups, units.count - 1), context)
            XCTAssertEqual(state.backupCounts, expectedBackups, context)
            XCTAssertLessThanOrEqual(state.backupCounts.values.max()! - state.backupCounts.values.min()!, 1, context)
            XCTAssertEqual(state.backupCounts.values.reduce(0, +), 271 * state.desiredBackups, context)
            // Primaries are as even as without backups; every epoch starts at 1.
            XCTAssertLessThanOrEqual(state.primaryCounts.values.max()! - state.primaryCounts.values.min()!, 1, context)
            XCTAssertEqual(Set(state.slots.map(\.epoch)), [1], context)
        }
    }

    func testEvenOverMoreUnits() {
        for count in 3...8 {
            for backups in 1...3 where backups < count {
                let table = placed((1...count).map { "u\($0)" }, partitions: 271, backups: backups)
                assertWellFormed(table, "\(count) units, \(backups) backups")
                let counts = table.sections["customer"]!.backupCounts
                XCTAssertLessThanOrEqual(counts.values.max()! - counts.values.min()!, 1, "\(count) units, \(backups) backups: \(counts)")
            }
        }
    }

    func testPlacementReportsEveryBackup() {
        var table = table(partitions: 3, expected: 3, backups: 2)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        _ = table.onUnitReady(section: "customer", unit: "b", now: 0)
        let changes = table.onUnitReady(section: "customer", unit: "c", now: 0)
        XCTAssertEqual(changes, [
            .unitJoined(section: "customer", unit: "c"),
            .leased(section: "customer", partition: 0, unit: "a", epoch: 1),
            .leased(section: "customer", partition: 1, unit: "b", epoch: 1),
            .leased(section: "customer", partition: 2, unit: "c", epoch: 1),
            .backupAdded(section: "customer", partition: 0, unit: "b", epoch: 1),
            .backupAdded(section: "customer", partition: 0, unit: "c", epoch: 1),
            .backupAdded(section: "customer", partition: 1, unit: "a", epoch: 1),
            .backupAdded(section: "customer", partition: 1, unit: "c", epoch: 1),
            .backupAdded(section: "customer", partition: 2, unit: "a", epoch: 1),
            .backupAdded(section: "customer", partition: 2, unit: "b", epoch: 1),
            .placed(section: "customer"),
        ])
        XCTAssertEqual(render(table), "p0:a@1[b,c] p1:b@1[a,c] p2:c@1[a,b]")
        XCTAssertEqual(table.assignments(of: "a"), [
            Assignment(lease: Lease(partition: 0, epoch: 1, role: .primary), primary: "a", backups: ["b", "c"]),
            Assignment(lease: Lease(partition: 1, epoch: 1, role: .backup), primary: "b", backups: ["a", "c"]),
            Assignment(lease: Lease(partition: 2, epoch: 1, role: .backup), primary: "c", backups: ["a", "b"]),
        ])
        XCTAssertEqual(table.leases(of: "a"), [
            Lease(partition: 0, epoch: 1, role: .primary), Lease(partition: 1, epoch: 1, role: .backup), Lease(partition: 2, epoch: 1, role: .backup),
        ])
    }

    // MARK: - Promotion

    func testPromotionPicksTheInSyncBackupWithTheHighestReportedSequence() {
        var table = placed(["a", "b", "c"], partitions: 3, backups: 2)
        XCTAssertEqual(render(table), "p0:a@1[b,c] p1:b@1[a,c] p2:c@1[a,b]")
        XCTAssertEqual(table.onReport(unit: "b", holdings: [backupHolding(0, sequence: 10)]),
                       [.caughtUp(section: "customer", partition: 0, unit: "b", sequence: 10)])
        _ = table.onReport(unit: "c", holdings: [backupHolding(0, sequence: 12)])

        let changes = table.onUnitDead(unit: "a")

        XCTAssertEqual(changes, [
            .unitLeft(section: "customer", unit: "a"),
            .promoted(section: "customer", partition: 0, unit: "c", epoch: 2, previous: "a", sequence: 12, complete: true),
            .backupRemoved(section: "customer", partition: 1, unit: "a"),
            .backupRemoved(section: "customer", partition: 2, unit: "a"),
        ])
        XCTAssertEqual(render(table), "p0:c@2[b] p1:b@1[c] p2:c@1[b]", "two units left: one backup each")
        XCTAssertEqual(table.primary(section: "customer", partition: 0)?.unit, "c")
        XCTAssertEqual(table.primary(section: "customer", partition: 0)?.epoch, 2)
    }

    func testAnInSyncBackupBeatsOneThatIsAheadButNotInSync() {
        var table = placed(["a", "b", "c"], partitions: 3, backups: 2)
        _ = table.onReport(unit: "b", holdings: [backupHolding(0, sequence: 5)])
        _ = table.onReport(unit: "c", holdings: [backupHolding(0, sequence: 9, inSync: false)])
        let promoted = table.onUnitDead(unit: "a").filter { if case .promoted = $0 { return true } else { return false } }
        XCTAssertEqual(promoted, [.promoted(section: "customer", partition: 0, unit: "b", epoch: 2, previous: "a", sequence: 5, complete: true)])
    }

    func testAReportUnderAnotherEpochDoesNotCount() {
        var table = placed(["a", "b", "c"], partitions: 3, backups: 2)
        _ = table.onReport(unit: "b", holdings: [backupHolding(0, sequence: 3)])
        _ = table.onReport(unit: "c", holdings: [backupHolding(0, epoch: 0, sequence: 50)])
        let promoted = table.onUnitDead(unit: "a").filter { if case .promoted = $0 { return true } else { return false } }
        XCTAssertEqual(promoted, [.promoted(section: "customer", partition: 0, unit: "b", epoch: 2, previous: "a", sequence: 3, complete: true)])
    }

    func testWithoutReportsAnyBackupIsPromotedAndMarkedIncomplete() {
        var table = placed(["a", "b", "c"], partitions: 3, backups: 2)
        let promoted = table.onUnitDead(unit: "a").filter { if case .promoted = $0 { return true } else { return false } }
        XCTAssertEqual(promoted, [.promoted(section: "customer", partition: 0, unit: "b", epoch: 2, previous: "a", sequence: 0, complete: false)],
                       "ties go to the first name")
        XCTAssertEqual(table.sections["customer"]!.orphanCount, 0)
    }

    func testEpochsBumpByExactlyOnePerPromotionAndOnlyGrow() {
        var table = placed(["a", "b", "c", "d"], partitions: 8, backups: 3)
        var epochs = slots(table).map(\.epoch)
        var primaries = slots(table).map(\.primary)
        for unit in ["a", "b", "c"] {
            let changes = table.onUnitDead(unit: unit)
            for (partition, slot) in slots(table).enumerated() {
                if primaries[partition] == unit {
                    XCTAssertEqual(slot.epoch, epochs[partition] + 1, "\(unit) died: p\(partition) was promoted once")
                    XCTAssertTrue(changes.contains(.promoted(section: "customer", partition: partition, unit: slot.primary!, epoch: slot.epoch,
                                                             previous: unit, sequence: 0, complete: false)))
                } else {
                    XCTAssertEqual(slot.epoch, epochs[partition], "p\(partition) kept its primary and its epoch")
                    XCTAssertEqual(slot.primary, primaries[partition])
                }
            }
            XCTAssertFalse(changes.contains { if case .lost = $0 { return true } else { return false } }, "a replica always lived")
            epochs = slots(table).map(\.epoch)
            primaries = slots(table).map(\.primary)
        }
        // Only d is left: it leads everything, each epoch bumped once per promotion of that partition.
        XCTAssertTrue(slots(table).allSatisfy { $0.primary == "d" && $0.backups.isEmpty })
        XCTAssertEqual(slots(table)[3].epoch, 1, "d's own partitions were never promoted")
        XCTAssertEqual(slots(table)[7].epoch, 1)
        // Back to more units: new backups, no new primaries, no epoch change.
        _ = table.onUnitReady(section: "customer", unit: "e", now: 100)
        XCTAssertEqual(slots(table).map(\.epoch), epochs)
        XCTAssertTrue(slots(table).allSatisfy { $0.primary == "d" && $0.backups == ["e"] })
    }

    func testTheBackupCountIsRestoredAfterADeath() {
        var table = placed(["a", "b", "c", "d"], partitions: 8, backups: 2)
        assertWellFormed(table)
        let before = slots(table)
        let changes = table.onUnitDead(unit: "a")
        assertWellFormed(table, "after a died")
        XCTAssertEqual(table.sections["customer"]!.desiredBackups, 2)
        // Every partition a was a member of got one new backup, under its current epoch.
        let touched = before.indices.filter { before[$0].primary == "a" || before[$0].backups.contains("a") }
        let added = changes.compactMap { change -> Int? in
            guard case .backupAdded("customer", let partition, let unit, let epoch) = change else { return nil }
            XCTAssertEqual(slots(table)[partition].epoch, epoch)
            XCTAssertTrue(slots(table)[partition].backups.contains(unit))
            return partition
        }
        XCTAssertEqual(added, touched)
        let removed = changes.compactMap { change -> Int? in
            if case .backupRemoved("customer", let partition, "a") = change { return partition } else { return nil }
        }
        XCTAssertEqual(removed, before.indices.filter { before[$0].backups.contains("a") })
        // Untouched partitions did not move.
        for partition in before.indices where !touched.contains(partition) {
            XCTAssertEqual(slots(table)[partition], before[partition])
        }
        XCTAssertEqual(table.sections["customer"]!.backupCounts.values.reduce(0, +), 8 * 2)
    }

    func testTheLastReplicaDyingLosesThePartitionToAnEmptyStart() {
        var table = placed(["a", "b", "c"], partitions: 3, backups: 1)
        XCTAssertEqual(render(table), "p0:a@1[b] p1:b@1[a] p2:c@1[a]")
        _ = table.onUnitDead(unit: "b")
        XCTAssertEqual(render(table), "p0:a@1[c] p1:a@2[c] p2:c@1[a]")
        // a dies: p0 and p1 are promoted on c; p2 loses its backup.
        _ = table.onUnitDead(unit: "a")
        XCTAssertEqual(render(table), "p0:c@2[] p1:c@3[] p2:c@1[]")
        // c dies too: nothing lives; when d comes, every partition starts again, empty.
        XCTAssertEqual(table.onUnitDead(unit: "c"), [
            .unitLeft(section: "customer", unit: "c"),
            .orphaned(section: "customer", partition: 0, previous: "c"),
            .orphaned(section: "customer", partition: 1, previous: "c"),
            .orphaned(section: "customer", partition: 2, previous: "c"),
        ])
        let rejoin = table.onUnitReady(section: "customer", unit: "d", now: 10)
        XCTAssertEqual(rejoin, [
            .unitJoined(section: "customer", unit: "d"),
            .lost(section: "customer", partition: 0), .leased(section: "customer", partition: 0, unit: "d", epoch: 3),
            .lost(section: "customer", partition: 1), .leased(section: "customer", partition: 1, unit: "d", epoch: 4),
            .lost(section: "customer", partition: 2), .leased(section: "customer", partition: 2, unit: "d", epoch: 2),
        ])
    }

    // MARK: - Joins after placement

    func testAUnitJoiningAfterPlacementBecomesABackupWhereOneIsMissing() {
        var table = table(partitions: 4, expected: 1, backups: 1)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        XCTAssertEqual(render(table), "p0:a@1[] p1:a@1[] p2:a@1[] p3:a@1[]", "one unit: no room for a backup")
        let changes = table.onUnitReady(section: "customer", unit: "b", now: 10)
        XCTAssertEqual(changes, [.unitJoined(section: "customer", unit: "b")] + (0..<4).map {
            .backupAdded(section: "customer", partition: $0, unit: "b", epoch: 1)
        })
        XCTAssertEqual(render(table), "p0:a@1[b] p1:a@1[b] p2:a@1[b] p3:a@1[b]", "no primary moved, no epoch changed")
        XCTAssertEqual(table.sections["customer"]!.primaryCounts, ["a": 4, "b": 0])
        XCTAssertEqual(table.leases(of: "b"), (0..<4).map { Lease(partition: $0, epoch: 1, role: .backup) })
        // A third unit finds every backup in place: it gets nothing until someone dies.
        XCTAssertEqual(table.onUnitReady(section: "customer", unit: "c", now: 20), [.unitJoined(section: "customer", unit: "c")])
        XCTAssertEqual(table.leases(of: "c"), [])
        _ = table.onUnitDead(unit: "a")
        XCTAssertEqual(render(table), "p0:b@2[c] p1:b@2[c] p2:b@2[c] p3:b@2[c]")
    }

    func testAJoinFillsTheSecondBackupSlot() {
        var table = placed(["a", "b"], partitions: 4, backups: 2)
        XCTAssertEqual(render(table), "p0:a@1[b] p1:b@1[a] p2:a@1[b] p3:b@1[a]")
        _ = table.onUnitReady(section: "customer", unit: "c", now: 5)
        XCTAssertEqual(render(table), "p0:a@1[b,c] p1:b@1[a,c] p2:a@1[b,c] p3:b@1[a,c]")
        assertWellFormed(table)
    }

    // MARK: - Caught up

    func testCaughtUpIsEmittedOnceWhenABackupReportsInSync() {
        var table = placed(["a", "b"], partitions: 2, backups: 1)
        XCTAssertEqual(render(table), "p0:a@1[b] p1:b@1[a]")
        XCTAssertEqual(table.onReport(unit: "b", holdings: [backupHolding(0, sequence: 0, inSync: false)]), [], "still waiting for its snapshot")
        XCTAssertEqual(table.onReport(unit: "b", holdings: [backupHolding(0, sequence: 7)]),
                       [.caughtUp(section: "customer", partition: 0, unit: "b", sequence: 7)])
        XCTAssertEqual(table.onReport(unit: "b", holdings: [backupHolding(0, sequence: 9)]), [], "once")
        XCTAssertEqual(table.onReport(unit: "b", holdings: [backupHolding(0, sequence: 9), primaryHolding(1, epoch: 1, sequence: 4)]), [])
        // Out of sync again (a resync), then in sync: caught up again.
        _ = table.onReport(unit: "b", holdings: [backupHolding(0, sequence: 9, inSync: false)])
        XCTAssertEqual(table.onReport(unit: "b", holdings: [backupHolding(0, sequence: 11)]),
                       [.caughtUp(section: "customer", partition: 0, unit: "b", sequence: 11)])
        // Not for another epoch, not for a partition it does not back up, not for a primary, not for strangers.
        XCTAssertEqual(table.onReport(unit: "a", holdings: [backupHolding(1, epoch: 0, sequence: 3)]), [])
        XCTAssertEqual(table.onReport(unit: "a", holdings: [backupHolding(0, sequence: 3)]), [])
        XCTAssertEqual(table.onReport(unit: "a", holdings: [Holding(partition: 1, role: .primary, epoch: 1, sequence: 3, inSync: true)]), [])
        XCTAssertEqual(table.onReport(unit: "a", holdings: [backupHolding(99, sequence: 3)]), [], "out of range")
        XCTAssertEqual(table.onReport(unit: "zz", holdings: [backupHolding(0, sequence: 3)]), [])
        XCTAssertEqual(table.onReport(unit: "a", holdings: [backupHolding(1, sequence: 3)]),
                       [.caughtUp(section: "customer", partition: 1, unit: "a", sequence: 3)])
    }

    // MARK: - Rebuild after a broker restart

    func testARestartedBrokerRebuildsTheTableFromTheUnitsHoldings() {
        var table = table(partitions: 4, expected: 2, backups: 1)
        // p0: a claims primary; p1: no claim, b's replica is in sync and ahead; p2: only b holds it; p3: nobody.
        XCTAssertEqual(table.onUnitReady(section: "customer", unit: "a", holdings: [
            primaryHolding(0, epoch: 5, sequence: 100), backupHolding(1, epoch: 3, sequence: 50, inSync: false),
        ], now: 0), [.unitJoined(section: "customer", unit: "a")])
        let changes = table.onUnitReady(section: "customer", unit: "b", holdings: [
            backupHolding(0, epoch: 5, sequence: 98), backupHolding(1, epoch: 3, sequence: 60), backupHolding(2, epoch: 7, sequence: 10),
        ], now: 10)
        XCTAssertEqual(changes, [
            .unitJoined(section: "customer", unit: "b"),
            .leased(section: "customer", partition: 0, unit: "a", epoch: 5),
            .backupAdded(section: "customer", partition: 0, unit: "b", epoch: 5),
            .promoted(section: "customer", partition: 1, unit: "b", epoch: 4, previous: nil, sequence: 60, complete: true),
            .backupAdded(section: "customer", partition: 1, unit: "a", epoch: 4),
            .promoted(section: "customer", partition: 2, unit: "b", epoch: 8, previous: nil, sequence: 10, complete: true),
            .leased(section: "customer", partition: 3, unit: "a", epoch: 1),
            .backupAdded(section: "customer", partition: 2, unit: "a", epoch: 8),
            .backupAdded(section: "customer", partition: 3, unit: "b", epoch: 1),
            .placed(section: "customer"),
        ])
        XCTAssertEqual(render(table), "p0:a@5[b] p1:b@4[a] p2:b@8[a] p3:a@1[b]")
        XCTAssertFalse(changes.contains { if case .lost = $0 { return true } else { return false } }, "a fresh placement is not a loss")
    }

    func testOnRebuildTheClaimOfTheHighestEpochWins() {
        // a was paused, declared dead and replaced by b under epoch 3; both claim p0 when the new broker asks.
        var table = table(partitions: 1, expected: 2, backups: 1)
        _ = table.onUnitReady(section: "customer", unit: "a", holdings: [primaryHolding(0, epoch: 2, sequence: 40)], now: 0)
        _ = table.onUnitReady(section: "customer", unit: "b", holdings: [primaryHolding(0, epoch: 3, sequence: 35)], now: 0)
        XCTAssertEqual(render(table), "p0:b@3[a]", "the deposed primary becomes a backup; the epoch is not bumped")
    }

    func testOnRebuildEqualClaimsGoToTheHighestSequence() {
        var table = table(partitions: 1, expected: 2, backups: 0)
        _ = table.onUnitReady(section: "customer", unit: "a", holdings: [primaryHolding(0, epoch: 4, sequence: 10)], now: 0)
        _ = table.onUnitReady(section: "customer", unit: "b", holdings: [primaryHolding(0, epoch: 4, sequence: 12)], now: 0)
        XCTAssertEqual(render(table), "p0:b@4[]")
    }

    func testAnOrphanIsAdoptedByAUnitThatHoldsItsReplica() {
        var table = placed(["a"], partitions: 2, backups: 1)
        _ = table.onUnitDead(unit: "a")
        XCTAssertEqual(render(table), "p0:-@1[] p1:-@1[]")
        // a was only paused: it comes back with its data, and takes it back under a new epoch.
        let changes = table.onUnitReady(section: "customer", unit: "a", holdings: [primaryHolding(0, epoch: 1, sequence: 30)], now: 50)
        XCTAssertEqual(changes, [
            .unitJoined(section: "customer", unit: "a"),
            .promoted(section: "customer", partition: 0, unit: "a", epoch: 2, previous: nil, sequence: 30, complete: true),
            .lost(section: "customer", partition: 1),
            .leased(section: "customer", partition: 1, unit: "a", epoch: 2),
        ])
    }

    // MARK: - Randomized invariants

    func testInvariantsHoldOverRandomJoinsDeathsAndReports() {
        var random = SplitMix64(seed: 0x5eed_0002)
        // A unit serves one section all its life.
        let sectionOf = ["a": "customer", "b": "customer", "c": "customer", "d": "customer", "e": "order", "f": "order", "g": "order"]
        let names = sectionOf.keys.sorted()
        for round in 0..<40 {
            var table = PartitionTable(sections: [
                .init(name: "customer", partitioner: .hash(partitions: 31), expectedUnits: random.below(4), backups: random.below(4)),
                .init(name: "order", partitioner: .range([0..<5, 5..<10, 10..<20]), expectedUnits: random.below(3), backups: random.below(3)),
            ], placementDelayMilliseconds: 300)
            var now: UInt64 = 0
            var sequences: [String: UInt64] = [:]   // per "section/partition": the primary's progress
            var lastHeld: [String: [Holding]] = [:] // what each unit held when it last reported
            for step in 0..<200 {
                let before = table.sections
                let changes: [TableChange]
                let unit = names[random.below(names.count)]
                switch random.below(12) {
                case 0..<3:
                    // A join: a fresh process, or one that comes back with what it held (a pause).
                    let section = sectionOf[unit]!
                    let holdings = random.below(2) == 0 ? (lastHeld[unit] ?? []) : []
                    changes = table.onUnitReady(section: section, unit: unit, holdings: holdings, now: now)
                case 3..<5:
                    changes = table.onUnitDead(unit: unit)
                case 5..<9:
                    // A report of what the unit holds, with progress; backups in sync or not.
                    guard let section = table.unitSections[unit] else { continue }
                    let holdings = table.assignments(of: unit).map { assignment -> Holding in
                        let key = "\(section)/\(assignment.lease.partition)"
                        if assignment.lease.role == .primary { sequences[key, default: 0] += UInt64(random.below(5)) }
                        let newest = sequences[key, default: 0]
                        let sequence = assignment.lease.role == .primary ? newest : UInt64(random.below(Int(newest) + 1))
                        return Holding(partition: assignment.lease.partition, role: assignment.lease.role, epoch: assignment.lease.epoch,
                                       sequence: sequence, inSync: assignment.lease.role == .primary || random.below(3) != 0)
                    }
                    lastHeld[unit] = holdings
                    changes = table.onReport(unit: unit, holdings: holdings)
                default:
                    now += UInt64(random.below(200))
                    changes = table.onTick(now: now)
                }
                let context = "round \(round) step \(step)"
                for (name, state) in table.sections {
                    let old = before[name]!
                    for partition in state.slots.indices {
                        let slot = state.slots[partition], previous = old.slots[partition]
                        XCTAssertGreaterThanOrEqual(slot.epoch, previous.epoch, "\(context): epochs never decrease")
                        XCTAssertLessThanOrEqual(slot.epoch, previous.epoch + 1, "\(context): one bump at most per event")
                        if let primary = slot.primary, primary != previous.primary {
                            XCTAssertEqual(slot.epoch, previous.epoch + 1, "\(context): a new primary comes with a new epoch")
                        }
                        if let primary = slot.primary {
                            XCTAssert(state.units.contains(primary), "\(context): the primary of \(name) p\(partition) is live")
                            XCTAssertFalse(slot.backups.contains(primary), "\(context): a backup of \(name) p\(partition) on its primary's unit")
                        }
                        for backup in slot.backups {
                            XCTAssert(state.units.contains(backup), "\(context): backup \(backup) of \(name) p\(partition) is live")
                        }
                        XCTAssertEqual(Set(slot.backups).count, slot.backups.count, context)
                        if state.placed && !state.units.isEmpty {
                            XCTAssertNotNil(slot.primary, "\(context): \(name) p\(partition) has no primary while units live")
                            XCTAssertEqual(slot.backups.count, state.desiredBackups, "\(context): \(name) p\(partition) backups")
                        }
                        if !state.placed {
                            XCTAssertNil(slot.primary, context)
                        }
                    }
                }
                // Every change agrees with the table it produced.
                for change in changes {
                    switch change {
                    case .promoted(let section, let partition, let unit, let epoch, let previous, _, _):
                        let slot = table.sections[section]!.slots[partition]
                        XCTAssertEqual(slot.primary, unit, context)
                        XCTAssertEqual(slot.epoch, epoch, context)
                        XCTAssertEqual(epoch, before[section]!.slots[partition].epoch + 1, "\(context): a promotion bumps by one")
                        if let previous { XCTAssertNotEqual(previous, unit, context) }
                    case .leased(let section, let partition, let unit, let epoch):
                        XCTAssertEqual(table.sections[section]!.slots[partition].primary, unit, context)
                        XCTAssertEqual(table.sections[section]!.slots[partition].epoch, epoch, context)
                    case .backupAdded(let section, let partition, let unit, let epoch):
                        XCTAssertTrue(table.sections[section]!.slots[partition].backups.contains(unit), context)
                        XCTAssertEqual(table.sections[section]!.slots[partition].epoch, epoch, context)
                    case .caughtUp(let section, let partition, let unit, _):
                        XCTAssertTrue(table.sections[section]!.slots[partition].backups.contains(unit), context)
                    default:
                        break
                    }
                }
                // A unit's assignments are exactly its slots.
                for name in names {
                    guard let section = table.unitSections[name] else {
                        XCTAssertEqual(table.assignments(of: name), [], context)
                        continue
                    }
                    let expected = table.sections[section]!.slots.enumerated().compactMap { partition, slot -> Assignment? in
                        guard let primary = slot.primary else { return nil }
                        if primary == name {
                            return Assignment(lease: Lease(partition: partition, epoch: slot.epoch, role: .primary), primary: name, backups: slot.backups)
                        }
                        if slot.backups.contains(name) {
                            return Assignment(lease: Lease(partition: partition, epoch: slot.epoch, role: .backup), primary: primary, backups: slot.backups)
                        }
                        return nil
                    }
                    XCTAssertEqual(table.assignments(of: name), expected, context)
                }
            }
        }
    }
}

final class PartitionTableRebuildTests: XCTestCase {
    func testAUnitRejoiningAfterARebuildKeepsWhatOnlyItHeld() {
        var table = PartitionTable(sections: [.init(name: "customer", partitioner: .hash(partitions: 2), expectedUnits: 2, backups: 1)], placementDelayMilliseconds: 2_000)
        _ = table.onUnitReady(section: "customer", unit: "a", holdings: [Holding(partition: 0, role: .primary, epoch: 3, sequence: 10, inSync: true)], now: 0)
        _ = table.onTick(now: 2_000)
        let changes = table.onUnitReady(section: "customer", unit: "b", holdings: [Holding(partition: 1, role: .primary, epoch: 5, sequence: 1_000, inSync: true)], now: 2_500)
        XCTAssertEqual(table.primary(section: "customer", partition: 1)?.unit, "b")
        XCTAssertEqual(table.primary(section: "customer", partition: 1)?.epoch, 6, "epochs never go backwards")
        XCTAssertTrue(changes.contains(.promoted(section: "customer", partition: 1, unit: "b", epoch: 6, previous: "a", sequence: 1_000, complete: true)))
        XCTAssertEqual(table.sections["customer"]!.slots[1].backups, ["a"], "the unit placed meanwhile resyncs as a backup")
        XCTAssertEqual(table.primary(section: "customer", partition: 0)?.unit, "a")
    }

    func testPromotionTiesGoToTheUnitLeadingFewest() {
        var table = PartitionTable(sections: [.init(name: "customer", partitioner: .hash(partitions: 8), expectedUnits: 4, backups: 2)])
        for unit in ["a", "b", "c", "d"] { _ = table.onUnitReady(section: "customer", unit: unit, now: 0) }
        _ = table.onUnitDead(unit: "a")
        let counts = table.sections["customer"]!.primaryCounts
        XCTAssertLessThanOrEqual(counts.values.max()! - counts.values.min()!, 1, "\(counts)")
    }
}
