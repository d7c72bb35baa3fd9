import ArgumentParser
import Foundation
import GridClient
import GridWire
import ZeroMQ

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the grid: units, partitions per unit, primaries, requests served.")

    @OptionGroup var client: ClientOptions
    @Flag(help: "Print the full status as JSON (every partition with its primary and epoch).") var json = false
    @Flag(help: "Also list every partition.") var partitions = false

    func run() throws {
        let reply = try OneRequest.run(client, "grid", "status", key: "-", arguments: [])
        guard let status = GridStatus(decoding: reply.payload) else {
            FileHandle.standardError.write(Data("spacegrid: error: the broker's status reply is not readable\n".utf8))
            throw ExitCode(2)
        }
        if json {
            print(String(decoding: reply.payload, as: UTF8.self))
            return
        }
        print(StatusReport.render(status, partitions: partitions))
    }
}

/// Renders a `GridStatus` as readable tables.
enum StatusReport {
    /// Units per host, and the partitions whose copies share a host (none, where the grid
    /// has units on enough hosts). Nil when no unit reported a host.
    static func hostsLine(_ status: GridStatus) -> String? {
        var hostOf: [String: String] = [:]
        var counts: [String: Int] = [:]
        for unit in status.sections.flatMap(\.units) {
            guard let host = unit.host else { continue }
            hostOf[unit.name] = host
            counts[host, default: 0] += 1
        }
        guard !counts.isEmpty else { return nil }
        let hosts = counts.keys.sorted().map { "\($0) (\(counts[$0]!) units)" }.joined(separator: ", ")
        var shared = 0
        var listed = 0
        for section in status.sections {
            for partition in section.partitions {
                listed += 1
                let copies = ([partition.primary].compactMap { $0 } + partition.backups).map { hostOf[$0] ?? $0 }
                if Set(copies).count < copies.count { shared += 1 }
            }
        }
        let sharing = listed == 0 ? "" : "; partitions with two copies on one host: \(shared)"
        return "hosts: \(hosts)\(sharing)"
    }

    static func render(_ status: GridStatus, partitions: Bool) -> String {
        var lines: [String] = []
        let state = status.ready ? "ready" : "NOT READY (partitions without a primary)"
        lines.append("grid '\(status.grid)': \(state), up \(duration(status.uptimeMs)), \(status.requests) requests (\(status.refused) refused, \(status.dropped) dropped), \(status.promotions) promotions")
        lines.append("")
        var sectionRows = [["SECTION", "PARTITIONING", "MODE", "PARTITIONS", "UNITS", "WITHOUT PRIMARY", "SKEW", "MOVING"]]
        for section in status.sections {
            sectionRows.append([
                section.name, section.partitioning, section.mode, String(section.partitions.count),
                "\(section.units.count)/\(section.expectedUnits)", String(section.orphans), String(section.skew),
                String(section.moves?.count ?? 0),
            ])
        }
        lines.append(Table.render(sectionRows))
        lines.append("")
        var unitRows = [["UNIT", "SECTION", "HOST", "PID", "PRIMARIES", "BACKUPS", "REQUESTS", "FENCED", "LAST HEARD"]]
        for section in status.sections {
            for unit in section.units {
                unitRows.append([
                    unit.draining == true ? unit.name + " (draining)" : unit.name, section.name, unit.host ?? "-", String(unit.pid),
                    String(unit.primaries), String(unit.backups), String(unit.requests), String(unit.fenced), "\(unit.lastHeardMs) ms",
                ])
            }
        }
        lines.append(Table.render(unitRows))
        if let hosts = hostsLine(status) { lines.append(hosts) }
        if let refused = status.refusedKeys {
            let byUnits = status.sections.flatMap(\.units).reduce(0) { $0 + ($1.refusedKeys ?? 0) }
            lines.append("security: CURVE; connections refused for an unknown key: \(refused) at the broker, \(byUnits) at units")
        }
        let moves = status.sections.flatMap { section in (section.moves ?? []).map { (section.name, $0) } }
        if !moves.isEmpty {
            lines.append("")
            lines.append("rebalancing: \(moves.count) partitions moving")
            var rows = [["SECTION", "PARTITION", "KIND", "FROM", "TO", "STAGE", "FOR"]]
            for (section, move) in moves.prefix(10) {
                rows.append([section, String(move.partition), move.kind, move.from, move.to, move.stage, "\(move.ageMs) ms"])
            }
            lines.append(Table.render(rows))
        }
        lines.append("")
        lines.append(replication(status))
        if let mirror = status.mirror {
            lines.append("")
            lines.append(writeBehind(mirror))
        }
        if partitions {
            lines.append("")
            var rows = [["SECTION", "PARTITION", "PRIMARY", "EPOCH", "BACKUPS (* in sync)"]]
            for section in status.sections {
                for partition in section.partitions {
                    let backups = partition.backups.map { partition.inSync.contains($0) ? $0 + "*" : $0 }
                    rows.append([section.name, String(partition.partition), partition.primary ?? "-", String(partition.epoch), backups.joined(separator: ",")])
                }
            }
            lines.append(Table.render(rows))
        }
        return lines.joined(separator: "\n")
    }

    /// The partitions whose backups lag most: sequences behind and the age of the oldest unacknowledged change.
    static func replication(_ status: GridStatus) -> String {
        var worst: [(section: String, partition: GridStatus.PartitionStatus)] = []
        for section in status.sections {
            for partition in section.partitions where partition.behind > 0 || partition.unackedMs > 0 {
                worst.append((section.name, partition))
            }
        }
        let missing = status.sections.reduce(0) { total, section in
            total + section.partitions.filter { $0.primary != nil && $0.backups.isEmpty }.count
        }
        var lines: [String] = []
        if worst.isEmpty {
            lines.append("replication: every backup has acknowledged every change")
        } else {
            worst.sort { ($0.partition.behind, $0.partition.unackedMs) > ($1.partition.behind, $1.partition.unackedMs) }
            lines.append("replication: \(worst.count) partitions with backups behind; the worst:")
            var rows = [["SECTION", "PARTITION", "PRIMARY", "EPOCH", "SEQUENCE", "BEHIND", "OLDEST UNACKED"]]
            for (section, partition) in worst.prefix(5) {
                rows.append([section, String(partition.partition), partition.primary ?? "-", String(partition.epoch),
                             String(partition.sequence), String(partition.behind), "\(partition.unackedMs) ms"])
            }
            lines.append(Table.render(rows))
        }
        if missing > 0 {
            lines.append("\(missing) partitions have no backup (not enough live units)")
        }
        // A backup not in sync cannot be promoted: a failure of its primary then waits for it
        // to come back, or starts the partition again from the database.
        let catchingUp = status.sections.reduce(0) { total, section in
            total + section.partitions.filter { $0.primary != nil && !$0.backups.isEmpty && $0.inSync.count < $0.backups.count }.count
        }
        if catchingUp > 0 {
            lines.append("\(catchingUp) partitions have a backup not yet in sync (still catching up: it could not take over)")
        }
        let orphans = status.sections.reduce(0) { $0 + $1.partitions.filter { $0.primary == nil }.count }
        if orphans > 0, status.sections.allSatisfy(\.placed) {
            lines.append("\(orphans) partitions have no primary: waiting for a unit that holds them to come back (loss grace), then they start again from the database")
        }
        return lines.joined(separator: "\n")
    }

    /// The mirror: per section what the database does not hold yet, and how old it is.
    static func writeBehind(_ mirror: MirrorStatus) -> String {
        var lines: [String] = []
        var head = "write-behind: \(mirror.database), mirror pid \(mirror.pid), \(mirror.state)"
        if mirror.ageMs > 2_000 { head += " (last report \(duration(mirror.ageMs)) ago: is the mirror running?)" }
        lines.append(head)
        if let error = mirror.lastError { lines.append("last error: \(error)") }
        var rows = [["SECTION", "NOT IN DATABASE", "ROWS", "OLDEST", "WRITTEN", "BATCHES", "FAILURES", "GAPS", "SNAPSHOTS"]]
        for section in mirror.sections {
            rows.append([
                section.name, String(section.pendingChanges), String(section.pendingRows), "\(section.oldestPendingMs) ms",
                String(section.committedChanges), String(section.batches), String(section.failures), String(section.gaps),
                String(section.snapshots),
            ])
        }
        lines.append(Table.render(rows))
        return lines.joined(separator: "\n")
    }

    static func duration(_ milliseconds: UInt64) -> String {
        let seconds = milliseconds / 1000
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
        return "\(seconds / 3600)h\((seconds % 3600) / 60)m"
    }
}

/// Left-aligned text columns; numbers right-aligned.
enum Table {
    static func render(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        return rows.enumerated().map { rowIndex, row in
            row.enumerated().map { index, cell in
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                let numeric = rowIndex > 0 && !cell.isEmpty && cell.allSatisfy { $0.isNumber }
                return numeric ? padding + cell : cell + padding
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}
