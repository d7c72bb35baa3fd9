import GridCore
import XCTest

/// Online rebalancing in the partition table: moves add the target first, promote it
/// only once it is in sync and the old primary's report shows it stopped serving, survive
/// either side dying, drain units after `scale`, and bring backups home after a restart.
final class PartitionTableMoveTests: XCTestCase {
    /// A table driven like the broker drives it, with units that answer like healthy ones.
    private struct Sim {
        var table: PartitionTable
        var now: UInt64 = 0
        var changes: [TableChange] = []
        /// Whether primaries report their backups in sync (they caught up).
        var catchUp = true
        /// Whether a primary told to hand over reports that it follows.
        var followOnHandover = true

        init(units: [String], partitions: Int = 12, backups: Int = 1) {
            table = PartitionTable(sections: [.init(name: "s", partitioner: .hash(partitions: partitions), expectedUnits: units.count, backups: backups)])
            for unit in units { record(table.onUnitReady(section: "s", unit: unit, now: now)) }
        }

        var state: PartitionTable.SectionState { table.sections["s"]! }

        /// Checks every change against the table as it was before it: a promotion only of an
        /// in-sync backup, or of the old primary taking its handover back.
        mutating func record(_ new: [TableChange], before: PartitionTable? = nil, file: StaticString = #filePath, line: UInt = #line) {
            if let before {
                for change in new {
                    guard case .promoted(_, let partition, let unit, let epoch, _, _) = change else { continue }
                    let slot = before.sections["s"]!.slots[partition]
                    let fromHandover = slot.handover?.to == unit
                    let takenBack = slot.primary == unit && slot.handover != nil
                    XCTAssertTrue(slot.inSync.contains(unit) || takenBack, "p\(partition) promoted \(unit), not in sync: \(slot)", file: file, line: line)
                    if fromHandover { XCTAssertGreaterThanOrEqual(epoch, slot.handover!.epoch, file: file, line: line) }
                    XCTAssertGreaterThan(epoch, slot.epoch, "p\(partition): a promotion under an old epoch", file: file, line: line)
                }
            }
            changes += new
        }

        /// Every live unit reports what it holds; a primary told to hand over answers that
        /// assignment only when `followOnHandover` (else its report predates it).
        mutating func reportAll() {
            for unit in state.units {
                var holdings: [Holding] = []
                var current = true
                for (partition, slot) in state.slots.enumerated() where slot.primary == unit {
                    if slot.handover != nil, !followOnHandover { current = false }
                    holdings.append(Holding(partition: partition, role: .primary, epoch: slot.epoch, sequence: 10, inSync: true,
                                            inSyncBackups: catchUp ? slot.backups : slot.inSync))
                }
                let before = table
                record(table.onReport(unit: unit, holdings: holdings, current: current), before: before)
            }
        }

        mutating func tick() {
            now += PartitionTable.rebalanceMilliseconds
            let before = table
            record(table.onTick(now: now), before: before)
            reportAll()
        }

        mutating func kill(_ units: [String]) {
            let before = table
            record(table.onUnitsDead(units, now: now), before: before)
        }

        mutating func join(_ unit: String) {
            let before = table
            record(table.onUnitReady(section: "s", unit: unit, now: now), before: before)
        }

        /// Ticks until nothing moves for a while; false if that never happens.
        mutating func settle(maxTicks: Int = 2_000) -> Bool {
            var quiet = 0
            for _ in 0..<maxTicks {
                let count = changes.count
                tick()
                quiet = changes.count == count && state.moves.isEmpty ? quiet + 1 : 0
                if quiet >= 5 { return true }
            }
            return false
        }

        var movedCount: Int { changes.filter { if case .moved = $0 { return true } else { return false } }.count }

        /// A settled two-unit table that a third unit joins, ticked until a handover began
        /// (the old primary not answering it): that handover, or nil.
        mutating func handOverToANewUnit() -> (partition: Int, from: String, to: String)? {
            followOnHandover = false
            guard settle() else { return nil }
            join("s-3")
            for _ in 0..<50 {
                tick()
                for change in changes { if case .handingOver(_, let p, let from, let to) = change { return (p, from, to) } }
            }
            return nil
        }
    }

    private func assertEven(_ sim: Sim, file: StaticString = #filePath, line: UInt = #line) {
        let state = sim.state
        let active = state.activeUnits
        let primaries = state.primaryCounts.filter { active.contains($0.key) }
        let backups = state.backupCounts.filter { active.contains($0.key) }
        XCTAssertLessThanOrEqual(primaries.values.max()! - primaries.values.min()!, 1, "primaries \(primaries)", file: file, line: line)
        XCTAssertLessThanOrEqual(backups.values.max()! - backups.values.min()!, 1, "backups \(backups)", file: file, line: line)
        for (partition, slot) in state.slots.enumerated() {
            XCTAssertNotNil(slot.primary, "p\(partition)", file: file, line: line)
            XCTAssertNil(slot.handover, "p\(partition)", file: file, line: line)
            XCTAssertEqual(slot.backups.count, state.desiredBackups, "p\(partition): \(slot)", file: file, line: line)
            XCTAssertFalse(slot.backups.contains(slot.primary!), file: file, line: line)
        }
    }

    func testAThirdUnitJoiningTwoTakesItsShareWithoutDroppingAReplica() {
        var sim = Sim(units: ["s-1", "s-2"])
        XCTAssertTrue(sim.settle())
        XCTAssertEqual(sim.movedCount, 0, "an even table does not move")
        sim.join("s-3")
        XCTAssertEqual(sim.state.primaryCounts["s-3"], 0, "a late unit gets nothing by itself")
        var minimumBackups = Int.max
        for _ in 0..<500 {
            sim.tick()
            minimumBackups = min(minimumBackups, sim.state.slots.map { $0.backups.count }.min()!)
            if sim.state.moves.isEmpty && sim.state.primaryCounts["s-3"] == 4 { break }
        }
        XCTAssertTrue(sim.settle())
        XCTAssertGreaterThanOrEqual(minimumBackups, 1, "a move dropped a copy before its replacement")
        assertEven(sim)
        XCTAssertEqual(sim.state.primaryCounts, ["s-1": 4, "s-2": 4, "s-3": 4])
        XCTAssertEqual(sim.movedCount, 8, "4 primaries and 4 backups reach the new unit")
        XCTAssertTrue(sim.settle())
        XCTAssertEqual(sim.movedCount, 8, "no oscillation once even")
    }

    func testAHandoverPromotesTheTargetOnlyOnceTheOldPrimaryStopped() {
        var sim = Sim(units: ["s-1", "s-2"], partitions: 4)
        let handover = sim.handOverToANewUnit()
        guard let (partition, from, to) = handover else { return XCTFail("no handover began") }
        let slot = sim.state.slots[partition]
        let newEpoch = slot.handover!.epoch
        XCTAssertGreaterThan(newEpoch, slot.epoch)
        XCTAssertNil(sim.table.primary(section: "s", partition: partition), "requests wait at the broker during the handover")
        let stopped = sim.table.assignments(of: from).first { $0.lease.partition == partition }
        XCTAssertEqual(stopped?.lease, Lease(partition: partition, epoch: slot.epoch, role: .primary), "it keeps the partition, under its epoch")
        XCTAssertEqual(stopped?.handover, to, "the old primary is told to stop serving it")
        let targetLease = sim.table.assignments(of: to).first { $0.lease.partition == partition }
        XCTAssertEqual(targetLease?.lease.role, .backup, "the target waits as a backup")
        // Its reports predate that assignment: nothing happens.
        for _ in 0..<5 { sim.tick() }
        XCTAssertNil(sim.table.primary(section: "s", partition: partition))
        let held = Holding(partition: partition, role: .primary, epoch: slot.epoch, sequence: 33, inSync: true)
        XCTAssertEqual(sim.table.onReport(unit: from, holdings: [held], current: false), [])
        // It answers it now: the target leads under the new epoch, and the old primary stays on as its backup.
        let before = sim.table
        let changes = sim.table.onReport(unit: from, holdings: [held], current: true)
        sim.record(changes, before: before)
        XCTAssertTrue(changes.contains(.promoted(section: "s", partition: partition, unit: to, epoch: newEpoch, previous: from, sequence: 33)), "\(changes)")
        XCTAssertTrue(changes.contains(.moved(section: "s", partition: partition, kind: .primary, from: from, to: to)))
        XCTAssertEqual(sim.table.primary(section: "s", partition: partition)?.unit, to)
        XCTAssertEqual(sim.table.primary(section: "s", partition: partition)?.epoch, newEpoch)
    }

    func testTheTargetDyingDuringAHandoverGivesThePartitionBackToTheOldPrimary() {
        var sim = Sim(units: ["s-1", "s-2"], partitions: 4)
        let handover = sim.handOverToANewUnit()
        guard let (partition, from, to) = handover else { return XCTFail("no handover began") }
        let handoverEpoch = sim.state.slots[partition].handover!.epoch
        sim.changes = []
        sim.kill([to])
        XCTAssertTrue(sim.changes.contains { if case .moveCancelled(_, partition, _) = $0 { return true } else { return false } }, "\(sim.changes)")
        guard let lead = sim.table.primary(section: "s", partition: partition) else { return XCTFail("no primary") }
        XCTAssertEqual(lead.unit, from)
        XCTAssertGreaterThan(lead.epoch, handoverEpoch, "taken back under an epoch never granted before")
        XCTAssertNil(sim.state.slots[partition].handover)
    }

    func testTheOldPrimaryDyingDuringAHandoverFailsOverToAnInSyncBackup() {
        var sim = Sim(units: ["s-1", "s-2"], partitions: 4)
        let handover = sim.handOverToANewUnit()
        guard let (partition, from, _) = handover else { return XCTFail("no handover began") }
        let handoverEpoch = sim.state.slots[partition].handover!.epoch
        sim.kill([from])
        guard let lead = sim.table.primary(section: "s", partition: partition) else { return XCTFail("no primary") }
        XCTAssertNotEqual(lead.unit, from)
        XCTAssertGreaterThan(lead.epoch, handoverEpoch)
        XCTAssertNil(sim.state.slots[partition].handover)
    }

    /// The old primary keeps the partition (stopped, under its epoch) until the target is
    /// promoted: a broker restarting meanwhile rebuilds it as the primary, with its data.
    func testABrokerRestartDuringAHandoverKeepsTheOldPrimary() {
        var sim = Sim(units: ["s-1", "s-2"], partitions: 4)
        let handover = sim.handOverToANewUnit()
        guard let (partition, from, to) = handover else { return XCTFail("no handover began") }
        let epoch = sim.state.slots[partition].epoch
        // What each unit reports to a new broker: the old primary still holds it as primary.
        var rebuilt = PartitionTable(sections: [.init(name: "s", partitioner: .hash(partitions: 4), expectedUnits: 3, backups: 1)], generation: 1)
        for unit in ["s-1", "s-2", "s-3"] {
            var holdings: [Holding] = []
            for (index, slot) in sim.state.slots.enumerated() {
                if slot.primary == unit {
                    holdings.append(Holding(partition: index, role: .primary, epoch: slot.epoch, sequence: 10, inSync: true, inSyncBackups: slot.inSync))
                } else if slot.backups.contains(unit) {
                    holdings.append(Holding(partition: index, role: .backup, epoch: slot.epoch, sequence: 10, inSync: slot.inSync.contains(unit)))
                }
            }
            _ = rebuilt.onUnitReady(section: "s", unit: unit, holdings: holdings, now: 0)
        }
        XCTAssertEqual(rebuilt.primary(section: "s", partition: partition)?.unit, from, "not \(to): it never took over")
        XCTAssertEqual(rebuilt.primary(section: "s", partition: partition)?.epoch, epoch)
        XCTAssertTrue(rebuilt.isComplete)
    }

    func testScalingDownDrainsTheMostRecentlyAddedUnitsUntilTheyHoldNothing() {
        var sim = Sim(units: ["s-1", "s-2", "s-10", "s-3"], partitions: 12, backups: 2)
        XCTAssertTrue(sim.settle())
        XCTAssertNil(sim.table.scale(section: "nope", units: 2, now: sim.now))
        XCTAssertNil(sim.table.scale(section: "s", units: 0, now: sim.now))
        guard let changes = sim.table.scale(section: "s", units: 2, now: sim.now) else { return XCTFail("refused") }
        XCTAssertEqual(changes.first, .scaled(section: "s", units: 2, draining: ["s-3", "s-10"]))
        sim.changes += changes
        XCTAssertTrue(sim.settle())
        XCTAssertEqual(sim.state.drained, ["s-10", "s-3"])
        XCTAssertEqual(sim.state.primaryCounts["s-1"], 6)
        XCTAssertEqual(sim.state.primaryCounts["s-2"], 6)
        assertEven(sim)
        // Scaling up again: the drained units are welcome back.
        _ = sim.table.scale(section: "s", units: 4, now: sim.now)
        XCTAssertTrue(sim.settle())
        XCTAssertEqual(sim.state.draining, [])
        assertEven(sim)
        XCTAssertEqual(Set(sim.state.primaryCounts.values), [3])
    }

    func testBackupsReturnHomeAfterAFailoverAndRestart() {
        var sim = Sim(units: ["s-1", "s-2"], partitions: 8)
        XCTAssertTrue(sim.settle())
        sim.kill(["s-1"])
        XCTAssertEqual(sim.state.primaryCounts["s-2"], 8, "the survivor leads everything")
        sim.join("s-1")
        XCTAssertTrue(sim.settle())
        assertEven(sim)
        XCTAssertEqual(sim.state.primaryCounts, ["s-1": 4, "s-2": 4])
    }

    func testAMoveWhoseTargetNeverCatchesUpIsGivenUpWithoutLosingACopy() {
        var sim = Sim(units: ["s-1", "s-2"], partitions: 4)
        XCTAssertTrue(sim.settle())
        sim.catchUp = false
        sim.join("s-3")
        let ticks = Int(PartitionTable.moveTimeoutMilliseconds / PartitionTable.rebalanceMilliseconds) + 5
        var cancelled = false
        for _ in 0..<ticks {
            sim.tick()
            for slot in sim.state.slots { XCTAssertGreaterThanOrEqual(slot.backups.count, 1) }
            cancelled = cancelled || sim.changes.contains { if case .moveCancelled = $0 { return true } else { return false } }
        }
        XCTAssertTrue(cancelled, "a stuck move is given up")
        XCTAssertEqual(sim.movedCount, 0)
    }

    func testRandomJoinsDeathsAndScalesKeepEveryRule() {
        var random = SplitMix64(seed: 99)
        for round in 0..<30 {
            let names = (1...5).map { "s-\($0)" }
            var sim = Sim(units: Array(names.prefix(3)), partitions: 1 + Int(random.next() % 16), backups: Int(random.next() % 3))
            for _ in 0..<200 {
                switch random.next() % 20 {
                case 0:
                    let live = sim.state.units
                    if live.count > 1, let victim = live.randomElement(using: &random) { sim.kill([victim]) }
                case 1:
                    if let missing = names.filter({ !sim.state.units.contains($0) }).randomElement(using: &random) { sim.join(missing) }
                case 2:
                    _ = sim.table.scale(section: "s", units: 1 + Int(random.next() % 5), now: sim.now).map { sim.changes += $0 }
                case 3:
                    sim.followOnHandover.toggle()
                default:
                    sim.tick()
                }
                for (partition, slot) in sim.state.slots.enumerated() {
                    if let handover = slot.handover {
                        XCTAssertTrue(slot.inSync.contains(handover.to), "round \(round) p\(partition): handing over to a backup not in sync")
                        XCTAssertNil(sim.table.primary(section: "s", partition: partition))
                    }
                    if let move = sim.state.moves[partition] {
                        XCTAssertTrue(sim.state.units.contains(move.to), "round \(round) p\(partition): a move to a dead unit")
                    }
                }
            }
            // Left alone with every unit back and healthy, it settles evenly.
            sim.followOnHandover = true
            for name in names where !sim.state.units.contains(name) { sim.join(name) }
            _ = sim.table.scale(section: "s", units: 5, now: sim.now)
            XCTAssertTrue(sim.settle(), "round \(round) did not settle")
            for _ in 0..<40 { sim.tick() }  // past the loss grace of any orphan
            XCTAssertTrue(sim.settle(), "round \(round) did not settle")
            assertEven(sim)
        }
    }
}
