import Foundation
import GridClient
import GridCore
import GridWire
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

extension Broker {
    /// Handles one message from a unit; a malformed one is dropped and counted.
    func onUnitMessage(_ frames: [[UInt8]]) throws(ZMQError) {
        guard frames.count >= 2 else {
            counters.dropped += 1
            return
        }
        let routingID = frames[0]
        let message: UnitMessage
        switch UnitMessage.decode(frames[1...]) {
        case .success(let decoded): message = decoded
        case .failure(let error):
            counters.dropped += 1
            logger.debug("dropped a unit message", metadata: ["reason": "\(error.message)"])
            return
        }
        let now = monotonicMilliseconds()
        if case .ready(let section, let name, let report) = message {
            try onReady(routingID, section: section, name: name, report: report, now: now)
            return
        }
        guard let unit = units[routingID] else {
            // A unit we declared dead, or from before a broker restart: it must say READY again.
            if case .disconnect = message { return }
            _ = try backend.send([routingID] + UnitMessage.disconnect.frames)
            return
        }
        units[routingID]?.lastHeard = now
        monitor.onHeard(unit.name, now: now)
        switch message {
        case .reply(let client, let envelopeBytes, let status, let payload, let meta):
            guard let envelope = ClientEnvelope(encoded: envelopeBytes) else {
                counters.dropped += 1
                return
            }
            try sendToClient(client, envelope: envelope, status: status, payload: payload, meta: meta)
        case .heartbeat:
            break
        case .disconnect:
            logger.info("unit left", metadata: ["grid.unit": "\(unit.name)"])
            publish("grid.unit.left", ["unit": unit.name, "section": unit.section])
            forget(routingID)
            try apply(table.onUnitDead(unit: unit.name))
        case .ready, .request, .assign:
            counters.dropped += 1
        }
    }

    func onReady(_ routingID: [UInt8], section: String, name: String, report: UnitReport, now: UInt64) throws(ZMQError) {
        guard var route = sectionsByBytes[Array(section.utf8)] else {
            logger.warning("refused a unit for an unknown section", metadata: ["grid.unit": "\(name)", "grid.section": "\(section)"])
            _ = try backend.send([routingID] + UnitMessage.disconnect.frames)
            return
        }
        if let old = routingIDs[name], old != routingID {
            // Same name, new connection: the old process is gone.
            units[old] = nil
        }
        for operation in report.operations { route.operations.insert(Array(operation.utf8)) }
        sectionsByBytes[Array(section.utf8)] = route
        units[routingID] = UnitRecord(name: name, section: section, pid: report.pid, lastHeard: now)
        routingIDs[name] = routingID
        monitor.onHeard(name, now: now)
        logger.info("unit joined", metadata: ["grid.unit": "\(name)", "grid.section": "\(section)", "pid": "\(report.pid)"])
        let changes = table.onUnitReady(section: section, unit: name, now: now)
        try apply(changes)
        // A unit that joined a placed section without leases still learns that it holds none.
        if !changes.contains(where: { if case .leased(_, _, name, _) = $0 { return true } else { return false } }) {
            _ = try backend.send([routingID] + UnitMessage.assign(leases: table.leases(of: name)).frames)
        }
    }

    func forget(_ routingID: [UInt8]) {
        guard let unit = units.removeValue(forKey: routingID) else { return }
        routingIDs[unit.name] = nil
        monitor.forget(unit.name)
    }

    /// Carries out table changes: new leases to the units concerned, events to subscribers.
    func apply(_ changes: [TableChange]) throws(ZMQError) {
        guard !changes.isEmpty else { return }
        var touched: Set<String> = []
        for change in changes {
            switch change {
            case .unitJoined(let section, let unit):
                publish("grid.unit.joined", ["unit": unit, "section": section])
            case .unitLeft:
                break
            case .leased(_, _, let unit, _):
                touched.insert(unit)
            case .orphaned(let section, let partition, let previous):
                publish("grid.partition.orphaned", ["section": section, "partition": partition, "previous": previous])
            case .placed(let section):
                logger.info("section placed", metadata: ["grid.section": "\(section)"])
                publish("grid.section.placed", ["section": section, "units": table.sections[section]?.units ?? []])
            }
        }
        let leased = changes.compactMap { change -> (String, Int, String, UInt64)? in
            if case .leased(let section, let partition, let unit, let epoch) = change { return (section, partition, unit, epoch) }
            return nil
        }
        if !leased.isEmpty {
            publish("grid.table", ["leases": leased.map { ["section": $0.0, "partition": $0.1, "unit": $0.2, "epoch": $0.3] as [String: Any] }])
        }
        for unit in touched.sorted() {
            guard let routingID = routingIDs[unit] else { continue }
            _ = try backend.send([routingID] + UnitMessage.assign(leases: table.leases(of: unit)).frames)
        }
    }

    /// Publishes a grid event: topic frame, then a JSON object with the time.
    func publish(_ topic: String, _ fields: [String: Any]) {
        var object = fields
        object["event"] = topic
        object["time_ms"] = Int(Date().timeIntervalSince1970 * 1000)
        guard let json = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        _ = try? events.send([Array(topic.utf8), Array(json)])
    }

    /// The status the `grid status` request returns.
    func status() -> GridStatus {
        let now = monotonicMilliseconds()
        var sections: [GridStatus.SectionStatus] = []
        for config in topology.sections {
            guard let state = table.sections[config.name] else { continue }
            let counts = state.primaryCounts
            var backupCounts: [String: Int] = [:]
            for slot in state.slots { for backup in slot.backups { backupCounts[backup, default: 0] += 1 } }
            let unitStatuses = state.units.map { name -> GridStatus.UnitStatus in
                let record = routingIDs[name].flatMap { units[$0] }
                return GridStatus.UnitStatus(
                    name: name, pid: record?.pid ?? 0, primaries: counts[name] ?? 0, backups: backupCounts[name] ?? 0,
                    requests: record?.requests ?? 0, lastHeardMs: record.map { now - min(now, $0.lastHeard) } ?? 0)
            }
            let partitioning: String
            switch config.partitioner {
            case .hash: partitioning = "hash"
            case .range: partitioning = "range"
            }
            let values = counts.values
            sections.append(GridStatus.SectionStatus(
                name: config.name, partitioning: partitioning, expectedUnits: config.units, placed: state.placed,
                orphans: state.orphanCount, skew: (values.max() ?? 0) - (values.min() ?? 0), units: unitStatuses,
                partitions: state.slots.enumerated().map {
                    GridStatus.PartitionStatus(partition: $0.offset, primary: $0.element.primary, backups: $0.element.backups, epoch: $0.element.epoch)
                }))
        }
        return GridStatus(
            grid: topology.grid, brokerPid: getpid(), ready: table.isComplete, uptimeMs: now - startedAt, requests: counters.requests,
            dropped: counters.dropped, refused: counters.refused, sections: sections)
    }
}
