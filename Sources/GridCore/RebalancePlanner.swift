/// Decides which partitions move so that primaries and backups spread evenly over a
/// section's units, and so that draining units end up holding nothing.
///
/// Pure and deterministic: it reads the table and the moves already under way (counted
/// as done, so a plan never overshoots) and proposes at most `limit` moves in all. A move
/// is proposed only from a unit leading (or backing) at least two more than the target,
/// or from a draining unit, so every move strictly lowers the spread: plans converge and
/// never oscillate. A move never drops a replica; the table adds the target first and
/// removes the source only once the target is in sync.
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
    public static func plan(units: [String], draining: Set<String>, lines: [Line], moves: [Int: Move], desiredBackups: Int, limit: Int) -> [Move] {
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

        // Primaries first: they carry the load.
        while budget > 0, let move = nextPrimaryMove(active: active, draining: draining, live: live, lines: projected, busy: busy) {
            planned.append(move)
            apply(move, to: &projected[move.partition])
            busy.insert(move.partition)
            budget -= 1
        }
        while budget > 0, let move = nextBackupMove(active: active, draining: draining, live: live, lines: projected, busy: busy,
                                                     desiredBackups: desiredBackups) {
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

    private static func nextPrimaryMove(active: [String], draining: Set<String>, live: Set<String>, lines: [Line], busy: Set<Int>) -> Move? {
        var counts = Dictionary(uniqueKeysWithValues: (active + draining.filter { live.contains($0) }).map { ($0, 0) })
        for line in lines { if let primary = line.primary, counts[primary] != nil { counts[primary]! += 1 } }
        // Sources: draining units first, then the most loaded; targets: the least loaded.
        let sources = counts.keys.sorted { (draining.contains($0) ? 1 : 0, counts[$0]!, $1) > (draining.contains($1) ? 1 : 0, counts[$1]!, $0) }
        let targets = active.sorted { (counts[$0]!, $0) < (counts[$1]!, $1) }
        for from in sources where counts[from]! > 0 {
            for to in targets where to != from {
                guard draining.contains(from) || counts[from]! - counts[to]! >= 2 else { continue }
                if let partition = choose(lines: lines, busy: busy, where: { $0.primary == from }, to: to) {
                    return Move(partition: partition, kind: .primary, from: from, to: to)
                }
            }
        }
        return nil
    }

    private static func nextBackupMove(active: [String], draining: Set<String>, live: Set<String>, lines: [Line], busy: Set<Int>,
                                       desiredBackups: Int) -> Move? {
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
                if let partition = choose(lines: lines, busy: busy, where: condition, to: to, backup: true) {
                    return Move(partition: partition, kind: .backup, from: from, to: to)
                }
            }
        }
        return nil
    }

    /// The settled partition matching `condition` that is cheapest to move to `to`: for a
    /// primary, one `to` already backs in sync, then one it backs, then any; for a backup,
    /// one `to` holds nothing of. Lowest index first.
    private static func choose(lines: [Line], busy: Set<Int>, where condition: (Line) -> Bool, to: String, backup: Bool = false) -> Int? {
        var best: (rank: Int, partition: Int)?
        for (partition, line) in lines.enumerated() where line.settled && line.primary != nil && !busy.contains(partition) && condition(line) {
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
