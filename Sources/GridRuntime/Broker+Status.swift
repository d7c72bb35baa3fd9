import GridClient
import GridCore
import GridWire

#if canImport(Glibc)
import Glibc
#endif

extension Broker {
    /// The status the `grid status` request returns; `partitions: false` (`grid status summary`)
    /// leaves every section's partition list empty, for pollers that need units and moves only.
    func status(partitions withPartitions: Bool = true) -> GridStatus {
        let now = monotonicMilliseconds()
        var sections: [GridStatus.SectionStatus] = []
        for config in topology.sections {
            guard let state = table.sections[config.name] else { continue }
            let counts = state.primaryCounts
            let backupCounts = state.backupCounts
            let unitStatuses = state.units.map { name -> GridStatus.UnitStatus in
                let record = routingIDs[name].flatMap { units[$0] }
                var status = GridStatus.UnitStatus(
                    name: name, pid: record?.pid ?? 0, primaries: counts[name] ?? 0, backups: backupCounts[name] ?? 0,
                    requests: record?.requests ?? 0, lastHeardMs: record.map { now - min(now, $0.lastHeard) } ?? 0,
                    publisher: record?.publisher ?? "", fenced: record?.fenced ?? 0)
                status.replication = record?.replication ?? ""
                status.loading = record?.loading
                status.clients = record?.clients ?? ""
                status.host = record?.host
                if let refused = record?.refusedKeys, refused > 0 { status.refusedKeys = refused }
                if state.scaled { status.draining = state.draining.contains(name) }
                return status
            }
            let partitioning: String
            switch config.partitioner {
            case .hash: partitioning = "hash"
            case .range: partitioning = "range"
            }
            let values = counts.values
            sections.append(GridStatus.SectionStatus(
                name: config.name, partitioning: partitioning, mode: config.mode.rawValue, expectedUnits: state.expectedUnits,
                placed: state.placed, orphans: state.orphanCount, skew: (values.max() ?? 0) - (values.min() ?? 0), units: unitStatuses,
                partitions: !withPartitions ? [] : state.slots.enumerated().map { partition, slot in
                    let report = lag[PartitionKey(section: config.name, partition: partition)]
                    var status = GridStatus.PartitionStatus(
                        partition: partition, primary: slot.primary, backups: slot.backups, epoch: slot.epoch,
                        sequence: report?.holding.sequence ?? 0, behind: report?.behind ?? 0,
                        unackedMs: UInt64(report?.unacknowledgedMilliseconds ?? 0))
                    status.inSync = slot.inSync
                    return status
                }))
            sections[sections.count - 1].scaled = state.scaled
            sections[sections.count - 1].moves = state.moves.keys.sorted().map { partition in
                let move = state.moves[partition]!
                let slot = state.slots[partition]
                return GridStatus.MoveStatus(partition: partition, kind: move.kind.rawValue, from: move.from, to: move.to,
                                             stage: slot.handover != nil ? "handing over" : "catching up",
                                             ageMs: now - min(now, move.since))
            }
        }
        var status = GridStatus(
            grid: topology.grid, brokerPid: getpid(), ready: table.isComplete, uptimeMs: now - startedAt, requests: counters.requests,
            dropped: counters.dropped, refused: counters.refused, promotions: counters.promotions, events: topology.broker.events,
            sections: sections)
        status.mirror = currentMirrorStatus(now: now)
        status.refusedKeys = refusedKeys?()
        return status
    }

    /// The mirror's last report with its age (nil when none came yet).
    func currentMirrorStatus(now: UInt64) -> MirrorStatus? {
        guard var mirror = mirrorReport else { return nil }
        mirror.ageMs = now - min(now, mirrorReportAt)
        return mirror
    }

    /// The grid's figures in Prometheus' text format (`grid metrics`, `spacegrid metrics`).
    /// One series per section at most: never a label per key or partition.
    func metrics() -> String {
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            lines.append("# HELP spacegrid_\(name) \(help)")
            lines.append("# TYPE spacegrid_\(name) \(type)")
            for (labels, value) in samples {
                let number = value.rounded() == value ? String(Int64(value)) : String(value)
                lines.append("spacegrid_\(name)\(labels.isEmpty ? "" : "{\(labels)}") \(number)")
            }
        }
        metric("requests_total", "counter", "Client requests received.", [("", Double(counters.requests))])
        metric("refused_total", "counter", "Requests the broker answered with an error.", [("", Double(counters.refused))])
        metric("dropped_total", "counter", "Messages dropped because no reply could be addressed.", [("", Double(counters.dropped))])
        metric("rerouted_total", "counter", "Requests routed again after their unit died or was fenced.", [("", Double(counters.rerouted))])
        metric("promotions_total", "counter", "Backups promoted to primary.", [("", Double(counters.promotions))])
        metric("moves_total", "counter", "Partitions moved between live units (rebalancing).", [("", Double(counters.moves))])
        metric("partitions_lost_total", "counter", "Partitions restarted empty because no replica lived.", [("", Double(counters.lost))])
        if let refusedKeys {
            var samples: [(String, Double)] = [("process=\"broker\"", Double(refusedKeys()))]
            for record in self.units.values.sorted(by: { $0.name < $1.name }) {
                samples.append(("process=\"\(record.name)\"", Double(record.refusedKeys)))
            }
            metric("security_refused_total", "counter", "Connections refused for a CURVE key not in the key folder, per process.", samples)
        }
        metric("waiting_requests", "gauge", "Requests waiting for a partition to get a primary.", [("", Double(waitingCount))])
        var units: [(String, Double)] = []
        var orphans: [(String, Double)] = []
        var behind: [(String, Double)] = []
        var unacked: [(String, Double)] = []
        for config in topology.sections {
            let label = "section=\"\(config.name)\""
            let state = table.sections[config.name]
            units.append((label, Double(state?.units.count ?? 0)))
            orphans.append((label, Double(state?.orphanCount ?? 0)))
            let reports = (0..<config.partitionCount).compactMap { lag[PartitionKey(section: config.name, partition: $0)] }
            behind.append((label, Double(reports.map(\.behind).max() ?? 0)))
            unacked.append((label, Double(reports.map(\.unacknowledgedMilliseconds).max() ?? 0) / 1000))
        }
        if let mirror = currentMirrorStatus(now: monotonicMilliseconds()) {
            let sections = mirror.sections
            metric("writebehind_pending_changes", "gauge", "Changes not yet in the database, per section.",
                   sections.map { ("section=\"\($0.name)\"", Double($0.pendingChanges)) })
            metric("writebehind_oldest_pending_seconds", "gauge", "Age of the oldest change not yet in the database.",
                   sections.map { ("section=\"\($0.name)\"", Double($0.oldestPendingMs) / 1000) })
            metric("writebehind_committed_changes_total", "counter", "Changes written to the database since the mirror started.",
                   sections.map { ("section=\"\($0.name)\"", Double($0.committedChanges)) })
            metric("writebehind_failures", "gauge", "Failed database writes in a row, per section.",
                   sections.map { ("section=\"\($0.name)\"", Double($0.failures)) })
            metric("writebehind_report_age_seconds", "gauge", "Time since the mirror last reported.", [("", Double(mirror.ageMs) / 1000)])
        }
        metric("units", "gauge", "Live units per section.", units)
        metric("partitions_without_primary", "gauge", "Partitions without a primary per section.", orphans)
        metric("replication_behind_max", "gauge", "Most sequences any backup of the section is behind its primary.", behind)
        metric("replication_unacked_age_seconds_max", "gauge", "Age of the oldest change a backup has not acknowledged.", unacked)
        return lines.joined(separator: "\n") + "\n"
    }
}
