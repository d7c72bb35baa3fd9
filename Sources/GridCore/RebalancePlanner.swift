/// Decides which partitions move so that primaries and backups spread evenly over a
/// section's units, and so that draining units end up holding nothing.
///
/// Pure and deterministic: it reads the table and the moves already under way (counted
/// as done, so a plan never overshoots) and proposes at most `limit` moves in all. A move
/// is proposed only from a unit leading (or backing) at least two more than the target,
/// or from a draining unit, so every move strictly lowers the spread: plans converge and
/// never oscillate. A move never drops a replica; the table adds the target first and
/// removes the source only once the target is in sync.
///
/// Hosts come before balance: a backup on a host that already holds a copy of its
/// partition moves to a unit on another host first, where the section has one, and no
/// balancing move puts two copies on one host that were apart. Each move so lowers
/// (copies sharing a host, spread) in that order, and plans still converge.
public enum RebalancePlanner {
    /// One partition line as the planner sees it.
    public struct Line: Sendable, Equatable {
        public var primary: String?
        public var backups: [String]
        public var inSync: [String]
        /// Not to be moved now: orphaned, handing over, or loading.
        public var settled: Bool

        public init(primary: String?, backups: [String], inSync: [String] = [], settled: Bool = true) {
            self.primary = primary
            self.backups = backups
            self.inSync = inSync
            self.settled = settled
        }
    }

    /// - Parameters:
    ///   - units: the live units.
    ///   - draining: live units to be emptied (they receive nothing).
    ///   - lines: every partition, by index.
    ///   - moves: the moves under way, by partition.
    ///   - desiredBackups: backups every partition should have.
    ///   - limit: the most moves under way at once, those already under way included.
    ///   - hosts: the host of each unit (a unit without one is a host of its own).
    public static func plan(units: [String], draining: Set<String>, lines: [Line], moves: [Int: Move], desiredBackups: Int, limit: Int,
                            hosts: [String: String] = [:]) -> [Move] {
        let active = units.filter { !draining.contains($0) }.sorted()
        guard !active.isEmpty, moves.count < limit else { return [] }
        let live = Set(units)
        // The table as it will be once the moves under way are done.
        var projected = lines
        for (partition, move) in moves where projected.indices.contains(partition) {
            apply(move, to: &projected[partition])
        }
        var planned: [Move] = []
        var budget = limit - moves.count
        var busy = Set(moves.keys)
        let hostOf: (String) -> String = { hosts[$0] ?? "unit:" + $0 }

        // Copies apart first: a host's loss must not take a partition's every copy.
        while budget > 0, let move = nextSpreadMove(active: active, lines: projected, busy: busy, hostOf: hostOf) {
            planned.append(move)
            apply(move, to: &projected[move.partition])
            busy.insert(move.partition)
            budget -= 1
        }
        // Then primaries: they carry the load.
        while budget > 0, let move = nextPrimaryMove(active: active, draining: draining, live: live, lines: projected, busy: busy, hostOf: hostOf) {
            planned.append(move)
            apply(move, to: &projected[move.partition])
            busy.insert(move.partition)
            budget -= 1
        }
        while budget > 0, let move = nextBackupMove(active: active, draining: draining, live: live, lines: projected, busy: busy,
                                                     desiredBackups: desiredBackups, hostOf: hostOf) {
            planned.append(move)
            apply(move, to: &projected[move.partition])
            busy.insert(move.partition)
            budget -= 1
        }
        return planned
    }

    /// How a finished move leaves a line: a primary move swaps the roles of source and
    /// target (the source stays on as a backup where the target was one), a backup move
    /// replaces the source's copy by the target's.
    static func apply(_ move: Move, to line: inout Line) {
        switch move.kind {
        case .primary:
            let wasBackup = line.backups.contains(move.to)
            line.primary = move.to
            line.backups.removeAll { $0 == move.to }
            if wasBackup { line.backups.append(move.from) }
        case .backup:
            line.backups.removeAll { $0 == move.from || $0 == move.to }
            line.backups.append(move.to)
        }
        line.inSync.removeAll { !line.backups.contains($0) }
    }

    /// How many of a line's copies sit on a host that holds another copy of it.
    static func sharedHosts(_ line: Line, hostOf: (String) -> String) -> Int {
        let replicas = (line.primary.map { [$0] } ?? []) + line.backups
        return replicas.count - Set(replicas.map(hostOf)).count
    }

    /// A backup sharing its host with another copy of its partition, moved to the active
    /// unit backing the fewest among those on a host the partition is not on yet.
    private static func nextSpreadMove(active: [String], lines: [Line], busy: Set<Int>, hostOf: (String) -> String) -> Move? {
        var counts = Dictionary(uniqueKeysWithValues: active.map { ($0, 0) })
        for line in lines { for backup in line.backups where counts[backup] != nil { counts[backup]! += 1 } }
        for (partition, line) in lines.enumerated() where line.settled && !busy.contains(partition) {
            guard let primary = line.primary, sharedHosts(line, hostOf: hostOf) > 0 else { continue }
            let used = Set(([primary] + line.backups).map(hostOf))
            let targets = active.filter { $0 != primary && !line.backups.contains($0) && !used.contains(hostOf($0)) }
            guard let to = targets.min(by: { (counts[$0]!, $0) < (counts[$1]!, $1) }) else { continue }
            // The copy to move: a backup whose host an earlier copy (the primary first) is on.
            var seen: Set<String> = [hostOf(primary)]
            var from: String?
            for backup in line.backups {
                if !seen.insert(hostOf(backup)).inserted { from = backup }
            }
            if let from { return Move(partition: partition, kind: .backup, from: from, to: to) }
        }
        return nil
    }

    private static func nextPrimaryMove(active: [String], draining: Set<String>, live: Set<String>, lines: [Line], busy: Set<Int>,
                                        hostOf: (String) -> String) -> Move? {
        var counts = Dictionary(uniqueKeysWithValues: (active + draining.filter { live.contains($0) }).map { ($0, 0) })
        for line in lines { if let primary = line.primary, counts[primary] != nil { counts[primary]! += 1 } }
        // Sources: draining units first, then the most loaded; targets: the least loaded.
        let sources = counts.keys.sorted { (draining.contains($0) ? 1 : 0, counts[$0]!, $1) > (draining.contains($1) ? 1 : 0, counts[$1]!, $0) }
        let targets = active.sorted { (counts[$0]!, $0) < (counts[$1]!, $1) }
        for from in sources where counts[from]! > 0 {
            for to in targets where to != from {
                guard draining.contains(from) || counts[from]! - counts[to]! >= 2 else { continue }
                if let partition = choose(lines: lines, busy: busy, where: { $0.primary == from }, from: from, to: to, hostOf: hostOf) {
                    return Move(partition: partition, kind: .primary, from: from, to: to)
                }
            }
        }
        return nil
    }

    private static func nextBackupMove(active: [String], draining: Set<String>, live: Set<String>, lines: [Line], busy: Set<Int>,
                                       desiredBackups: Int, hostOf: (String) -> String) -> Move? {
        var counts = Dictionary(uniqueKeysWithValues: (active + draining.filter { live.contains($0) }).map { ($0, 0) })
        for line in lines { for backup in line.backups where counts[backup] != nil { counts[backup]! += 1 } }
        let sources = counts.keys.sorted { (draining.contains($0) ? 1 : 0, counts[$0]!, $1) > (draining.contains($1) ? 1 : 0, counts[$1]!, $0) }
        let targets = active.sorted { (counts[$0]!, $0) < (counts[$1]!, $1) }
        for from in sources where counts[from]! > 0 {
            for to in targets where to != from {
                let fromDraining = draining.contains(from)
                guard fromDraining || counts[from]! - counts[to]! >= 2 else { continue }
                // A draining unit's copy needs a replacement only where the others fall short;
                // the table drops the surplus ones.
                let condition: (Line) -> Bool = { line in
                    guard line.backups.contains(from) else { return false }
                    guard fromDraining else { return true }
                    return line.backups.filter { !draining.contains($0) }.count < desiredBackups
                }
                if let partition = choose(lines: lines, busy: busy, where: condition, from: from, to: to, backup: true, hostOf: hostOf) {
                    return Move(partition: partition, kind: .backup, from: from, to: to)
                }
            }
        }
        return nil
    }

    /// The settled partition matching `condition` that is cheapest to move to `to`: for a
    /// primary, one `to` already backs in sync, then one it backs, then any; for a backup,
    /// one `to` holds nothing of. Lowest index first. Never one whose copies would share
    /// hosts more than they do now.
    private static func choose(lines: [Line], busy: Set<Int>, where condition: (Line) -> Bool, from: String, to: String, backup: Bool = false,
                               hostOf: (String) -> String) -> Int? {
        var best: (rank: Int, partition: Int)?
        for (partition, line) in lines.enumerated() where line.settled && line.primary != nil && !busy.contains(partition) && condition(line) {
            var after = line
            apply(Move(partition: partition, kind: backup ? .backup : .primary, from: from, to: to), to: &after)
            guard sharedHosts(after, hostOf: hostOf) <= sharedHosts(line, hostOf: hostOf) else { continue }
            let rank: Int
            if backup {
                guard line.primary != to, !line.backups.contains(to) else { continue }
                rank = 0
            } else if line.inSync.contains(to) {
                rank = 0
            } else if line.backups.contains(to) {
                rank = 1
            } else {
                rank = 2
            }
            if best == nil || rank < best!.rank { best = (rank, partition) }
            if rank == 0 { break }
        }
        return best?.partition
    }
}
