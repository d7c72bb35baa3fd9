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
    static func render(_ status: GridStatus, partitions: Bool) -> String {
        var lines: [String] = []
        let state = status.ready ? "ready" : "NOT READY (partitions without a primary)"
        lines.append("grid '\(status.grid)': \(state), up \(duration(status.uptimeMs)), \(status.requests) requests (\(status.refused) refused, \(status.dropped) dropped)")
        lines.append("")
        var sectionRows = [["SECTION", "PARTITIONING", "PARTITIONS", "UNITS", "WITHOUT PRIMARY", "SKEW"]]
        for section in status.sections {
            sectionRows.append([
                section.name, section.partitioning, String(section.partitions.count),
                "\(section.units.count)/\(section.expectedUnits)", String(section.orphans), String(section.skew),
            ])
        }
        lines.append(Table.render(sectionRows))
        lines.append("")
        var unitRows = [["UNIT", "SECTION", "PID", "PRIMARIES", "BACKUPS", "REQUESTS", "LAST HEARD"]]
        for section in status.sections {
            for unit in section.units {
                unitRows.append([
                    unit.name, section.name, String(unit.pid), String(unit.primaries), String(unit.backups),
                    String(unit.requests), "\(unit.lastHeardMs) ms",
                ])
            }
        }
        lines.append(Table.render(unitRows))
        if partitions {
            lines.append("")
            var rows = [["SECTION", "PARTITION", "PRIMARY", "EPOCH", "BACKUPS"]]
            for section in status.sections {
                for partition in section.partitions {
                    rows.append([section.name, String(partition.partition), partition.primary ?? "-", String(partition.epoch), partition.backups.joined(separator: ",")])
                }
            }
            lines.append(Table.render(rows))
        }
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
