import GridCore
import XCTest

/// The partition table with backups: placement of replicas, the in-sync set, promotion
/// only of in-sync backups, orphans and their grace, and the rebuild from units' reports
/// after a broker restart (PartitionTable.swift rules 2-6; findings F1.1, F1.2, F1.4, F1.5).
final class PartitionTableBackupTests: XCTestCase {
    // MARK: - Helpers

    private func table(partitions: Int = 6, expected: Int = 3, backups: Int = 1, delay: UInt64 = 2_000, grace: UInt64 = 3_000,
                       generation: UInt64 = 0) -> PartitionTable {
        PartitionTable(sections: [.init(name: "customer", partitioner: .hash(partitions: partitions), expectedUnits: expected, backups: backups)],
                       placementDelayMilliseconds: delay, lossGraceMilliseconds: grace, generation: generation)
    }

    private func placed(_ units: [String], partitions: Int = 6, backups: Int = 1) -> PartitionTable {
        var table = table(partitions: partitions, expected: units.count, backups: backups)
        for unit in units { _ = table.onUnitReady(section: "customer", unit: unit, now: 0) }
        XCTAssertTrue(table.sections["customer"]!.placed)
        return table
    }

    private func slots(_ table: PartitionTable) -> [PartitionTable.Slot] { table.sections["customer"]!.slots }

    /// `p0:a@1[b*,c]`: primary, epoch and backups of every partition; `*` marks the in-sync ones.
    private func render(_ table: PartitionTable) -> String {
        slots(table).enumerated().map { index, slot in
            let backups = slot.backups.map { slot.inSync.contains($0) ? $0 + "*" : $0 }.joined(separator: ",")
            return "p\(index):\(slot.primary ?? "-")@\(slot.epoch)[\(backups)]"
        }.joined(separator: " ")
    }

    /// The primary `unit` reports partition `partition` with these in-sync backups.
    private func report(_ table: inout PartitionTable, _ unit: String, _ partition: Int, sequence: UInt64 = 10, inSync: [String], current: Bool = true) -> [TableChange] {
        let epoch = slots(table)[partition].epoch
        return table.onReport(unit: unit, holdings: [Holding(partition: partition, role: .primary, epoch: epoch, sequence: sequence, inSync: true,
                                                             inSyncBackups: inSync)], current: current)
    }

    private func backupHolding(_ partition: Int, epoch: UInt64 = 1, sequence: UInt64, confirmed: Bool = true) -> Holding {
        Holding(partition: partition, role: .backup, epoch: epoch, sequence: sequence, inSync: confirmed)
    }

    private func primaryHolding(_ partition: Int, epoch: UInt64, sequence: UInt64, inSync: [String] = []) -> Holding {
        Holding(partition: partition, role: .primary, epoch: epoch, sequence: sequence, inSync: true, inSyncBackups: inSync)
    }

    /// Checks the structural rules on every slot of a placed section.
    private func assertWellFormed(_ table: PartitionTable, _ context: String = "", file: StaticString = #filePath, line: UInt = #line) {
        let state = table.sections["customer"]!
        for (partition, slot) in state.slots.enumerated() {
            guard let primary = slot.primary else {
                XCTAssertNotNil(slot.orphan, "\(context) p\(partition) has no primary and waits for nothing", file: file, line: line)
                continue
            }
            XCTAssertFalse(slot.backups.contains(primary), "\(context) p\(partition): a backup on its primary's unit", file: file, line: line)
            XCTAssertEqual(Set(slot.backups).count, slot.backups.count, "\(context) p\(partition): a backup twice", file: file, line: line)
            // A move under way may add its target before it drops anything: one backup more.
            let allowed = state.moves[partition] == nil ? state.desiredBackups...state.desiredBackups : state.desiredBackups...(state.desiredBackups + 1)
            XCTAssertTrue(allowed.contains(slot.backups.count), "\(context) p\(partition): \(slot) desired \(state.desiredBackups) move \(String(describing: state.moves[partition])) units \(state.units)", file: file, line: line)
            XCTAssertTrue(Set(slot.inSync).isSubset(of: slot.backups), "\(context) p\(partition): in sync but not a backup", file: file, line: line)
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
            XCTAssertLessThanOrEqual(state.primaryCounts.values.max()! - state.primaryCounts.values.min()!, 1, context)
            XCTAssertEqual(Set(state.slots.map(\.epoch)), [1], context)
            XCTAssertTrue(state.slots.allSatisfy { $0.inSync.isEmpty }, "\(context): nobody is in sync before its primary says so")
        }
    }

    func testPlacementReportsEveryBackup() {
        var table = table(partitions: 3, expected: 3, backups: 2)
        _ = table.onUnitReady(section: "customer", unit: "a", incarnation: 11, now: 0)
        _ = table.onUnitReady(section: "customer", unit: "b", incarnation: 12, now: 0)
        let changes = table.onUnitReady(section: "customer", unit: "c", incarnation: 13, now: 0)
        XCTAssertEqual(changes, [
            .unitJoined(section: "customer", unit: "c"),
            .leased(section: "customer", partition: 0, unit: "a", epoch: 1, load: 0),
            .leased(section: "customer", partition: 1, unit: "b", epoch: 1, load: 0),
            .leased(section: "customer", partition: 2, unit: "c", epoch: 1, load: 0),
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
            Assignment(lease: Lease(partition: 0, epoch: 1, role: .primary), primary: "a", backups: ["b", "c"], incarnations: ["b": 12, "c": 13], load: 0),
            Assignment(lease: Lease(partition: 1, epoch: 1, role: .backup), primary: "b", backups: ["a", "c"], incarnations: ["a": 11, "c": 13]),
            Assignment(lease: Lease(partition: 2, epoch: 1, role: .backup), primary: "c", backups: ["a", "b"], incarnations: ["a": 11, "b": 12]),
        ])
    }

    // MARK: - In sync: only the primary says so

    func testABackupIsInSyncOnlyWhenItsPrimaryReportsIt() {
        var table = placed(["a", "b"], partitions: 2, backups: 1)
        XCTAssertEqual(render(table), "p0:a@1[b] p1:b@1[a]")
        // F1.2: the backup's own claim counts for nothing while the broker placed the partition.
        XCTAssertEqual(table.onReport(unit: "b", holdings: [backupHolding(0, sequence: 9)]), [])
        XCTAssertEqual(render(table), "p0:a@1[b] p1:b@1[a]")
        // A report of an older assignment may name a backup removed since: not counted.
        XCTAssertEqual(report(&table, "a", 0, inSync: ["b"], current: false), [])
        XCTAssertEqual(report(&table, "a", 0, inSync: ["b"]), [.inSync(section: "customer", partition: 0, unit: "b")])
        XCTAssertEqual(report(&table, "a", 0, inSync: ["b"]), [], "once")
        XCTAssertEqual(render(table), "p0:a@1[b*] p1:b@1[a]")
        XCTAssertEqual(report(&table, "a", 0, inSync: []), [], "a report never takes a backup out: only the broker does")
        XCTAssertEqual(render(table), "p0:a@1[b*] p1:b@1[a]")
        // Not from a unit that does not lead the partition, not under another epoch, not for a non-backup.
        XCTAssertEqual(report(&table, "a", 1, inSync: ["a"]), [])
        XCTAssertEqual(table.onReport(unit: "b", holdings: [primaryHolding(1, epoch: 0, sequence: 1, inSync: ["a"])]), [])
        XCTAssertEqual(report(&table, "b", 1, inSync: ["zz"]), [])
        XCTAssertEqual(table.assignments(of: "a").first?.inSync, ["b"])
        XCTAssertEqual(table.assignments(of: "b").first?.inSync, ["b"], "a backup's assignment names the in-sync set too")
    }

    func testPromotionPicksTheInSyncBackupWithTheHighestReportedSequence() {
        var table = placed(["a", "b", "c"], partitions: 3, backups: 2)
        XCTAssertEqual(render(table), "p0:a@1[b,c] p1:b@1[a,c] p2:c@1[a,b]")
        _ = report(&table, "a", 0, inSync: ["b", "c"])
        _ = table.onReport(unit: "b", holdings: [backupHolding(0, sequence: 40)])
        _ = table.onReport(unit: "c", holdings: [backupHolding(0, sequence: 42)])
        let changes = table.onUnitsDead(["a"], now: 5)
        XCTAssertTrue(changes.contains(.promoted(section: "customer", partition: 0, unit: "c", epoch: 2, previous: "a", sequence: 42)))
        // The other in-sync backup stays in sync: the old primary held every acknowledged
        // write for it, and the new one waits for it from the first write on.
        XCTAssertEqual(render(table), "p0:c@2[b*] p1:b@1[c] p2:c@1[b]")
        XCTAssertEqual(table.assignments(of: "c").first, Assignment(
            lease: Lease(partition: 0, epoch: 2, role: .primary), primary: "c", backups: ["b"], inSync: ["b"], incarnations: ["b": 0]))
    }

    /// F1.1: a backup still catching up is never promoted: the partition waits instead.
    func testABackupNotInSyncIsNeverPromoted() {
        var table = placed(["a", "b"], partitions: 2, backups: 1)
        _ = table.onReport(unit: "b", holdings: [backupHolding(0, sequence: 900)])
        let changes = table.onUnitsDead(["a"], now: 5)
        XCTAssertTrue(changes.contains(.orphaned(section: "customer", partition: 0, previous: "a")))
        XCTAssertFalse(changes.contains { if case .promoted = $0 { true } else { false } })
        XCTAssertEqual(render(table), "p0:-@1[b] p1:b@1[]")
    }

    /// F1.1, interleaving 1: two units die in one detection tick; the fresh backup a
    /// promotion would have added is never promoted in the same breath.
    func testTwoUnitsDyingTogetherOrphanTheirSharedPartitionsInsteadOfPromotingAFreshBackup() {
        var table = placed(["a", "b", "c"], partitions: 3, backups: 1)
        XCTAssertEqual(render(table), "p0:a@1[b] p1:b@1[a] p2:c@1[a]")
        _ = report(&table, "a", 0, inSync: ["b"])
        _ = report(&table, "b", 1, inSync: ["a"])
        _ = report(&table, "c", 2, inSync: ["a"])
        _ = table.onUnitsDead(["a", "b"], now: 10)
        XCTAssertEqual(render(table), "p0:-@1[] p1:-@1[] p2:c@1[]")
        XCTAssertEqual(slots(table)[0].orphan?.eligible, ["a", "b"], "either may come back with everything p0 acknowledged")
        XCTAssertEqual(table.leases(of: "c"), [Lease(partition: 2, epoch: 1, role: .primary)])
    }

    /// F1.1, interleaving 2: a unit restarted after a kill becomes a backup and is killed
    /// again... no: the survivor dies while the restarted one still catches up. The
    /// restarted one holds nothing acknowledged; the partition waits, then starts afresh.
    func testTheSurvivorDyingWhileTheRestartedBackupCatchesUpLosesThePartitionInsteadOfEmptyingIt() {
        var table = placed(["a", "b"], partitions: 2, backups: 1)
        _ = report(&table, "a", 0, inSync: ["b"])
        _ = report(&table, "b", 1, inSync: ["a"])
        _ = table.onUnitsDead(["a"], now: 10)
        XCTAssertEqual(render(table), "p0:b@2[] p1:b@1[]")
        _ = table.onUnitReady(section: "customer", unit: "a", incarnation: 2, now: 20)
        XCTAssertEqual(render(table), "p0:b@2[a] p1:b@1[a]")
        _ = table.onReport(unit: "a", holdings: [backupHolding(0, epoch: 2, sequence: 0, confirmed: false), backupHolding(1, sequence: 0, confirmed: false)])
        let changes = table.onUnitsDead(["b"], now: 30)
        XCTAssertEqual(render(table), "p0:-@2[a] p1:-@1[a]")
        XCTAssertFalse(changes.contains { if case .promoted = $0 { true } else { false } })
        XCTAssertEqual(table.onTick(now: 30 + table.lossGraceMilliseconds), [
            .lost(section: "customer", partition: 0),
            .leased(section: "customer", partition: 0, unit: "a", epoch: 3, load: 10 + PartitionTable.lossJump),
            .lost(section: "customer", partition: 1),
            .leased(section: "customer", partition: 1, unit: "a", epoch: 2, load: 10 + PartitionTable.lossJump),
        ], "reloaded from the database, versions above anything seen")
    }

    /// F1.4: a paused primary (declared dead) whose backups were not in sync comes back
    /// within the grace and takes its partition back with its data; nothing starts empty.
    func testAPausedPrimaryBackWithinTheGraceTakesItsPartitionBack() {
        var table = placed(["a", "b", "c"], partitions: 3, backups: 1)
        _ = table.onReport(unit: "a", holdings: [primaryHolding(0, epoch: 1, sequence: 77)])
        _ = table.onUnitsDead(["a"], now: 100)
        XCTAssertEqual(render(table), "p0:-@1[b] p1:b@1[c] p2:c@1[b]")
        XCTAssertEqual(table.onTick(now: 1_000), [])
        let back = table.onUnitReady(section: "customer", unit: "a", holdings: [primaryHolding(0, epoch: 1, sequence: 77)], now: 1_500)
        XCTAssertTrue(back.contains(.promoted(section: "customer", partition: 0, unit: "a", epoch: 2, previous: nil, sequence: 77)))
        XCTAssertEqual(render(table), "p0:a@2[b] p1:b@1[c] p2:c@1[b]")
        XCTAssertFalse(table.onTick(now: 10_000).contains { change in
            switch change {
            case .lost, .leased: return true
            default: return false
            }
        }, "nothing was lost")
    }

    func testAnInSyncBackupBackWithinTheGraceTakesThePartition() {
        var table = placed(["a", "b", "c"], partitions: 3, backups: 1)
        _ = report(&table, "a", 0, inSync: ["b"])
        _ = table.onUnitsDead(["a", "b"], now: 100)
        let back = table.onUnitReady(section: "customer", unit: "b", holdings: [backupHolding(0, sequence: 70, confirmed: false)], now: 900)
        XCTAssertTrue(back.contains(.promoted(section: "customer", partition: 0, unit: "b", epoch: 2, previous: nil, sequence: 70)),
                      "the broker knew it in sync: its own flag does not matter")
    }

    func testAHolderBackAfterTheGraceFindsThePartitionStartedAgain() {
        var table = placed(["a", "b"], partitions: 2, backups: 0)
        _ = table.onUnitsDead(["a"], now: 100)
        _ = table.onTick(now: 100 + table.lossGraceMilliseconds)
        XCTAssertEqual(render(table), "p0:b@2[] p1:b@1[]")
        let late = table.onUnitReady(section: "customer", unit: "a", holdings: [primaryHolding(0, epoch: 1, sequence: 5)], now: 9_000)
        XCTAssertEqual(late, [.unitJoined(section: "customer", unit: "a")], "too late: its epoch is an old one")
        XCTAssertEqual(render(table), "p0:b@2[] p1:b@1[]")
    }

    /// The broker cut off from every unit of a section (its own host's link down) for longer
    /// than the grace: nothing could be leased meanwhile, so the grace starts again when the
    /// first unit returns, and the others, back a moment later with what they acknowledged,
    /// take their partitions back. Found by scripts/multihost-test (seed 7): the first unit
    /// back was leased the others' partitions afresh, losing acknowledged trades.
    func testUnitsBackTogetherAfterTheBrokerWasCutOffFromAllOfThemLoseNothing() {
        var table = placed(["a", "b"], partitions: 4, backups: 1)
        let before = slots(table)
        // Every primary's backup was still catching up: only the primaries hold all they acknowledged.
        let held = { (unit: String) in before.enumerated().filter { $0.element.primary == unit }.map { self.primaryHolding($0.offset, epoch: $0.element.epoch, sequence: 50) } }
        _ = table.onUnitsDead(["a", "b"], now: 100)
        XCTAssertEqual(table.onTick(now: 100 + table.lossGraceMilliseconds + 1_000), [], "nobody to lease to")
        let first = table.onUnitReady(section: "customer", unit: "a", holdings: held("a"), now: 20_000)
        let tick = table.onTick(now: 20_050)
        let second = table.onUnitReady(section: "customer", unit: "b", holdings: held("b"), now: 20_100)
        for change in first + tick + second {
            if case .lost = change { XCTFail("a partition was declared lost: \(render(table))") }
            if case .leased(_, _, _, _, let load?) = change { XCTFail("a partition was leased afresh (load \(load)): \(render(table))") }
        }
        for (partition, slot) in slots(table).enumerated() {
            XCTAssertEqual(slot.primary, before[partition].primary, "p\(partition) is back with the unit that held it: \(render(table))")
        }
        // Still, a holder that never returns is given up on once the grace ran again.
        _ = table.onUnitsDead(["b"], now: 30_000)
        _ = table.onTick(now: 30_000 + table.lossGraceMilliseconds)
        XCTAssertTrue(slots(table).allSatisfy { $0.primary == "a" }, render(table))
    }

    // MARK: - Epochs

    func testEpochsGrowByOnePerPromotionAndStayAboveTheGenerationFloor() {
        var table = table(partitions: 2, expected: 2, backups: 1, generation: 3)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        _ = table.onUnitReady(section: "customer", unit: "b", now: 0)
        let floor = UInt64(3) << PartitionTable.generationShift
        XCTAssertEqual(slots(table).map(\.epoch), [floor + 1, floor + 1])
        _ = report(&table, "a", 0, inSync: ["b"])
        _ = table.onUnitsDead(["a"], now: 1)
        XCTAssertEqual(slots(table)[0].epoch, floor + 2)
        XCTAssertEqual(slots(table)[0].primary, "b")
    }

    func testTheBackupCountIsRestoredAfterADeath() {
        var table = placed(["a", "b", "c", "d"], partitions: 8, backups: 2)
        for partition in 0..<8 { _ = report(&table, slots(table)[partition].primary!, partition, inSync: slots(table)[partition].backups) }
        assertWellFormed(table)
        let before = slots(table)
        let changes = table.onUnitsDead(["a"], now: 0)
        assertWellFormed(table, "after a died")
        let touched = before.indices.filter { before[$0].primary == "a" || before[$0].backups.contains("a") }
        let added = changes.compactMap { change -> Int? in
            guard case .backupAdded("customer", let partition, let unit, let epoch) = change else { return nil }
            XCTAssertEqual(slots(table)[partition].epoch, epoch)
            XCTAssertTrue(slots(table)[partition].backups.contains(unit))
            XCTAssertFalse(slots(table)[partition].inSync.contains(unit), "a new backup is not in sync")
            return partition
        }
        XCTAssertEqual(added, touched)
        for partition in before.indices where !touched.contains(partition) {
            XCTAssertEqual(slots(table)[partition], before[partition])
        }
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
        XCTAssertEqual(table.onUnitReady(section: "customer", unit: "c", now: 20), [.unitJoined(section: "customer", unit: "c")])
        XCTAssertEqual(table.leases(of: "c"), [])
    }

    func testAJoinFillsTheSecondBackupSlot() {
        var table = placed(["a", "b"], partitions: 4, backups: 2)
        XCTAssertEqual(render(table), "p0:a@1[b] p1:b@1[a] p2:a@1[b] p3:b@1[a]")
        _ = table.onUnitReady(section: "customer", unit: "c", now: 5)
        XCTAssertEqual(render(table), "p0:a@1[b,c] p1:b@1[a,c] p2:a@1[b,c] p3:b@1[a,c]")
        assertWellFormed(table)
    }

    func testPromotionTiesGoToTheUnitLeadingFewest() {
        var table = placed(["a", "b", "c"], partitions: 6, backups: 2)
        for partition in 0..<6 { _ = report(&table, slots(table)[partition].primary!, partition, inSync: slots(table)[partition].backups) }
        _ = table.onUnitsDead(["a"], now: 0)
        XCTAssertEqual(table.sections["customer"]!.primaryCounts, ["b": 3, "c": 3])
    }

    // MARK: - Rebuild after a broker restart

    func testARestartedBrokerRebuildsTheTableFromTheUnitsHoldings() {
        var table = table(partitions: 4, expected: 2, backups: 1, generation: 1)
        _ = table.onUnitReady(section: "customer", unit: "a", holdings: [
            primaryHolding(0, epoch: 3, sequence: 30, inSync: ["b"]),
            backupHolding(1, epoch: 5, sequence: 12, confirmed: true),
            backupHolding(2, epoch: 2, sequence: 12, confirmed: false),
        ], now: 0)
        let changes = table.onUnitReady(section: "customer", unit: "b", holdings: [
            backupHolding(0, epoch: 3, sequence: 29, confirmed: true),
            backupHolding(1, epoch: 5, sequence: 14, confirmed: true),
        ], now: 0)
        let floor = UInt64(1) << PartitionTable.generationShift
        // p0: a claims primary under the highest epoch and keeps it, with b in sync as a reported.
        // p1: no primary reported; both backups were confirmed in sync: b (ahead) takes over.
        // p2: a's replica was never confirmed; every expected unit is here: started afresh, announced lost.
        // p3: nobody held it: started afresh.
        XCTAssertEqual(render(table), "p0:a@3[b*] p1:b@\(floor + 1)[a*] p2:a@\(floor + 1)[b] p3:b@\(floor + 1)[a]")
        XCTAssertTrue(changes.contains(.leased(section: "customer", partition: 0, unit: "a", epoch: 3, load: nil)))
        XCTAssertTrue(changes.contains(.promoted(section: "customer", partition: 1, unit: "b", epoch: floor + 1, previous: nil, sequence: 14)))
        XCTAssertTrue(changes.contains(.lost(section: "customer", partition: 2)))
        XCTAssertFalse(changes.contains(.lost(section: "customer", partition: 3)))
        XCTAssertEqual(table.assignments(of: "a").first { $0.lease.partition == 2 }?.load, 12 + PartitionTable.lossJump,
                       "above every sequence reported, the unconfirmed replica's included")
        XCTAssertEqual(table.assignments(of: "b").first { $0.lease.partition == 3 }?.load, 0)
        XCTAssertEqual(table.assignments(of: "b").first { $0.lease.partition == 1 }?.load, nil, "a promoted replica keeps its data")
    }

    /// F1.5: after a broker restart, a holder that reports late (a slow or paused unit)
    /// is waited for, and its partitions are its own again; nothing was placed meanwhile.
    func testALateHolderAfterARestartIsWaitedForAndKeepsItsData() {
        var table = table(partitions: 2, expected: 2, backups: 0, delay: 2_000, grace: 3_000, generation: 1)
        _ = table.onUnitReady(section: "customer", unit: "a", holdings: [primaryHolding(0, epoch: 1, sequence: 8)], now: 0)
        XCTAssertEqual(table.onTick(now: 2_000), [.leased(section: "customer", partition: 0, unit: "a", epoch: 1, load: nil), .placed(section: "customer")])
        XCTAssertNil(slots(table)[1].primary, "b may still report p1: nothing is placed fresh")
        let late = table.onUnitReady(section: "customer", unit: "b", holdings: [primaryHolding(1, epoch: 1, sequence: 50)], now: 3_500)
        let floor = UInt64(1) << PartitionTable.generationShift
        XCTAssertEqual(late, [.unitJoined(section: "customer", unit: "b"),
                              .promoted(section: "customer", partition: 1, unit: "b", epoch: floor + 1, previous: nil, sequence: 50)])
    }

    func testAfterARestartAPartitionNobodyClaimsStartsAfreshAfterTheGraceAboveAnyOldEpoch() {
        var table = table(partitions: 1, expected: 2, backups: 0, delay: 2_000, grace: 3_000, generation: 4)
        _ = table.onUnitReady(section: "customer", unit: "a", now: 0)
        _ = table.onTick(now: 2_000)
        let floor = UInt64(4) << PartitionTable.generationShift
        XCTAssertEqual(table.onTick(now: 5_000), [.leased(section: "customer", partition: 0, unit: "a", epoch: floor + 1, load: 0)])
        let stale = table.onUnitReady(section: "customer", unit: "b", holdings: [primaryHolding(0, epoch: 9, sequence: 3)], now: 6_000)
        XCTAssertEqual(stale, [.unitJoined(section: "customer", unit: "b")], "an epoch of an older broker never outranks a new one")
    }

    // MARK: - Randomized safety

    /// Over random joins, reports, deaths (several at once) and time: a backup is promoted
    /// only when its primary had reported it in sync (or the broker found it eligible as an
    /// orphan's holder), epochs are never granted twice, and the structure holds.
    func testOnlyInSyncBackupsArePromotedOverRandomRuns() {
        var random = SplitMix64(seed: 0x5eed_0002)
        let names = ["a", "b", "c", "d"]
        for round in 0..<60 {
            var table = table(partitions: 7, expected: 3, backups: 1 + random.below(2), delay: 200, grace: 600)
            var now: UInt64 = 0
            var granted: [Int: Set<UInt64>] = [:]
            for step in 0..<250 {
                let before = slots(table)
                let placedBefore = table.sections["customer"]!.placed
                var changes: [TableChange] = []
                switch random.below(12) {
                case 0..<3:
                    changes = table.onUnitReady(section: "customer", unit: names[random.below(4)], incarnation: random.next(), now: now)
                case 3..<6 where placedBefore:
                    let partition = random.below(7)
                    if let primary = before[partition].primary, !before[partition].backups.isEmpty {
                        changes = report(&table, primary, partition, inSync: before[partition].backups.filter { _ in random.below(2) == 0 })
                    }
                case 6..<8:
                    changes = table.onUnitsDead((0..<(1 + random.below(2))).map { _ in names[random.below(4)] }, now: now)
                default:
                    now += UInt64(random.below(300))
                    changes = table.onTick(now: now)
                }
                let context = "round \(round) step \(step)"
                for change in changes {
                    guard case .promoted(_, let partition, let unit, let epoch, let previous, _) = change else { continue }
                    if previous != nil {
                        XCTAssertTrue(before[partition].inSync.contains(unit), "\(context): \(unit) promoted in p\(partition) without being in sync")
                    }
                    XCTAssertFalse(granted[partition, default: []].contains(epoch), "\(context): epoch \(epoch) granted twice")
                    granted[partition, default: []].insert(epoch)
                }
                if table.sections["customer"]!.placed { assertWellFormed(table, context) }
            }
        }
    }

    // MARK: - Hosts

    /// Two units on host A, one on host B: every partition keeps a copy on each host, from
    /// the first placement on, and after a unit of A dies.
    func testABackupIsNeverOnItsPrimarysHostWhileAnotherHostHasAUnit() {
        var table = table(partitions: 12, expected: 3, backups: 1)
        let hosts = ["a1": "A", "a2": "A", "b1": "B"]
        for unit in ["a1", "a2", "b1"] { _ = table.onUnitReady(section: "customer", unit: unit, host: hosts[unit], now: 0) }
        XCTAssertTrue(table.sections["customer"]!.placed)
        func assertApart(_ context: String) {
            for (partition, slot) in slots(table).enumerated() {
                guard let primary = slot.primary else { continue }
                for backup in slot.backups {
                    XCTAssertNotEqual(hosts[backup], hosts[primary], "\(context): p\(partition) \(render(table))")
                }
            }
        }
        assertApart("placed")
        _ = table.onUnitDead(unit: "a2", now: 10)
        assertApart("after a2 died")
        XCTAssertEqual(table.sections["customer"]!.hosts["a2"], nil)
        // Alone on one host, a section still gets its backups there.
        _ = table.onUnitDead(unit: "b1", now: 20)
        _ = table.onUnitReady(section: "customer", unit: "a3", host: "A", now: 30)
        XCTAssertTrue(slots(table).allSatisfy { $0.primary == nil || $0.backups.count == 1 }, render(table))
    }
}
