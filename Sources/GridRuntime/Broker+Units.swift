import Foundation
import GridClient
import GridCore
import GridWire
import ZeroMQ

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
            // A unit we declared dead (its replies are not trusted: it may hold an old
            // epoch), or one from before a broker restart: it must say READY again.
            if case .disconnect = message { return }
            _ = try backend.send(routingID, UnitMessage.disconnect.frames)
            return
        }
        if unit.lastHeard != now {
            // Once per millisecond at most: a busy unit's replies would otherwise pay two lookups each.
            units[routingID]?.lastHeard = now
            monitor.onHeard(unit.name, now: now)
        }
        switch message {
        case .reply(_, let envelopeBytes, let status, let payload, let meta):
            try onReply(routingID, envelopeBytes: envelopeBytes, status: status, payload: payload, meta: meta)
        case .report(let records, let meta):
            units[routingID]?.fenced = meta.fenced
            units[routingID]?.loading = meta.loading
            units[routingID]?.refusedKeys = meta.refusedKeys
            units[routingID]?.stamp = max(unit.stamp, meta.stamp)
            try onReport(unit, records, current: meta.assign == unit.assignSent)
        case .heartbeat:
            break
        case .disconnect:
            logger.info("unit left", metadata: ["grid.unit": "\(unit.name)"])
            publish("grid.unit.left", ["unit": unit.name, "section": unit.section])
            try onUnitsGone([routingID])
        case .ready, .request, .assign:
            counters.dropped += 1
        }
    }

    /// A unit's reply: forwarded to the client of the routing it answers, if that routing is
    /// still in flight to this unit (a reply to an earlier routing, or from a unit the request
    /// was taken from, is dropped: the request went elsewhere).
    func onReply(_ routingID: [UInt8], envelopeBytes: [UInt8], status: Status, payload: [UInt8], meta: [UInt8]) throws(ZMQError) {
        guard envelopeBytes.count == 8, let pending = inFlight[BigEndianNumber.read(envelopeBytes)], pending.unit == routingID else {
            counters.dropped += 1
            return
        }
        inFlight[BigEndianNumber.read(envelopeBytes)] = nil
        var request = pending.request
        if status == .misdirected, request.attempts + 1 < Self.maximumAttempts {
            // The unit no longer leads that partition at that epoch: the table moved on; route again.
            request.attempts += 1
            counters.rerouted += 1
            try route(request)
            return
        }
        try sendToClient(request.client, envelope: request.envelope, status: status == .misdirected ? .unavailable : status, payload: payload, meta: meta)
    }

    func onReady(_ routingID: [UInt8], section: String, name: String, report: UnitReport, now: UInt64) throws(ZMQError) {
        guard var route = sectionsByBytes[Array(section.utf8)] else {
            logger.warning("refused a unit for an unknown section", metadata: ["grid.unit": "\(name)", "grid.section": "\(section)"])
            _ = try backend.send(routingID, UnitMessage.disconnect.frames)
            return
        }
        var gone: [[UInt8]] = []
        if let old = routingIDs[name] {
            // Same name again: the old process (or connection) is gone; its requests move on.
            logger.warning("unit replaced by a new registration", metadata: ["grid.unit": "\(name)"])
            publish("grid.unit.dead", ["unit": name, "section": section, "reason": "replaced by a new registration"])
            gone.append(old)
        }
        if units[routingID] != nil, !gone.contains(routingID) { gone.append(routingID) }
        if !gone.isEmpty { try onUnitsGone(gone) }
        for operation in report.operations { route.operations.insert(Array(operation.utf8)) }
        route.heard = true
        sectionsByBytes[Array(section.utf8)] = route
        routesValid = false
        units[routingID] = UnitRecord(name: name, section: section, pid: report.pid, publisher: report.publisher, replication: report.replication,
                                      clients: report.clients ?? "", incarnation: report.incarnation, stamp: report.stamp, lastHeard: now,
                                      host: report.host)
        routingIDs[name] = routingID
        monitor.onHeard(name, now: now)
        logger.info("unit joined", metadata: [
            "grid.unit": "\(name)", "grid.section": "\(section)", "pid": "\(report.pid)", "held": "\(report.holdings.count)",
            "grid.host": "\(report.host ?? "-")",
        ])
        let changes = table.onUnitReady(section: section, unit: name, incarnation: report.incarnation,
                                        holdings: report.holdings.map(\.holding), host: report.host, now: now)
        try apply(changes)
        // A unit that joined a placed section without leases learns that it holds none.
        // Before placement it hears nothing: it keeps what it holds until the table is rebuilt.
        if table.sections[section]?.placed == true, !touchedUnits(changes).contains(name) {
            try sendAssignment(to: name)
        }
    }

    /// A unit's REPORT: the current primary's lag figures, and its in-sync backups (bits
    /// over the backups of the latest assignment it was sent, counted only when `current`).
    func onReport(_ unit: UnitRecord, _ records: [ReportRecord], current: Bool) throws(ZMQError) {
        var holdings: [Holding] = []
        holdings.reserveCapacity(records.count)
        for record in records {
            var holding = record.holding
            if holding.role == .primary, let slot = table.sections[unit.section]?.slots[safe: holding.partition], slot.primary == unit.name {
                lag[PartitionKey(section: unit.section, partition: holding.partition)] = record
                if current, record.inSyncMask != 0 {
                    holding.inSyncBackups = slot.backups.prefix(8).enumerated().filter { record.inSyncMask & (1 << UInt8($0.offset)) != 0 }.map(\.element)
                }
            }
            holdings.append(holding)
        }
        try apply(table.onReport(unit: unit.name, holdings: holdings, current: current))
    }

    /// Units are gone (dead, left, or replaced): update the table, then route their requests
    /// again, in the order they arrived (a connection's pipelined writes keep their order).
    func onUnitsGone(_ routingIDs: [[UInt8]]) throws(ZMQError) {
        var names: [String] = []
        var gone: Set<[UInt8]> = []
        for routingID in routingIDs {
            guard let unit = units.removeValue(forKey: routingID) else { continue }
            gone.insert(routingID)
            names.append(unit.name)
            if self.routingIDs[unit.name] == routingID { self.routingIDs[unit.name] = nil }
            monitor.forget(unit.name)
        }
        guard !names.isEmpty else { return }
        routesValid = false
        let stranded = inFlight.filter { gone.contains($0.value.unit) }.sorted { $0.value.request.arrival < $1.value.request.arrival }
        // The stranded requests join those parked while the units were unroutable, in arrival
        // order, and all of them go out once the table has moved on.
        var keys: Set<PartitionKey> = []
        for (number, entry) in stranded {
            inFlight[number] = nil
            var request = entry.request
            request.attempts += 1
            counters.rerouted += 1
            if request.attempts < Self.maximumAttempts {
                keys.insert(PartitionKey(section: request.section, partition: request.partition))
                try park(request)
            } else {
                try refuse(request.client, request.envelope, .noPrimary(section: request.section, partition: request.partition))
            }
        }
        let changes = table.onUnitsDead(names, now: monotonicMilliseconds())
        try apply(changes)
        // Partitions the table did not open (their primary lives elsewhere) release them too;
        // those still without a primary park them again.
        try releaseWaiting(keys)
    }

    // MARK: - Table changes

    /// The units whose assignment changed: the units named, and every member of the partitions named.
    func touchedUnits(_ changes: [TableChange]) -> Set<String> {
        var touched: Set<String> = []
        func members(_ section: String, _ partition: Int) {
            guard let slot = table.sections[section]?.slots[partition] else { return }
            if let primary = slot.primary { touched.insert(primary) }
            touched.formUnion(slot.backups)
        }
        for change in changes {
            switch change {
            case .leased(let section, let partition, let unit, _, _), .promoted(let section, let partition, let unit, _, _, _),
                 .backupAdded(let section, let partition, let unit, _), .backupRemoved(let section, let partition, let unit):
                touched.insert(unit)
                members(section, partition)
            case .inSync(let section, let partition, _), .orphaned(let section, let partition, _), .lost(let section, let partition),
                 .moveStarted(let section, let partition, _, _, _), .moveCancelled(let section, let partition, _):
                members(section, partition)
            case .handingOver(let section, let partition, let from, let to), .moved(let section, let partition, _, let from, let to):
                // The source learns it serves nothing of the partition any more (or holds no copy).
                touched.insert(from)
                touched.insert(to)
                members(section, partition)
            case .unitJoined, .unitLeft, .placed, .scaled:
                break
            }
        }
        return touched.filter { routingIDs[$0] != nil }
    }

    /// Carries out table changes: assignments to the units concerned, events to subscribers,
    /// and the requests that waited for a primary.
    func apply(_ changes: [TableChange]) throws(ZMQError) {
        guard !changes.isEmpty else { return }
        routesValid = false
        var leases: [[String: Any]] = []
        var backups: [[String: Any]] = []
        var inSync: [String: [Int]] = [:]
        var opened: Set<PartitionKey> = []
        for change in changes {
            switch change {
            case .unitJoined(let section, let unit):
                let publisher = routingIDs[unit].flatMap { units[$0]?.publisher } ?? ""
                publish("grid.unit.joined", ["unit": unit, "section": section, "publisher": publisher])
            case .unitLeft:
                break
            case .leased(let section, let partition, let unit, let epoch, let load):
                var lease: [String: Any] = ["section": section, "partition": partition, "unit": unit, "epoch": epoch]
                if let load { lease["load_from"] = load }
                leases.append(lease)
                opened.insert(PartitionKey(section: section, partition: partition))
                lag[PartitionKey(section: section, partition: partition)] = nil
            case .promoted(let section, let partition, let unit, let epoch, let previous, let sequence):
                counters.promotions += 1
                opened.insert(PartitionKey(section: section, partition: partition))
                lag[PartitionKey(section: section, partition: partition)] = nil
                logger.info("partition promoted", metadata: [
                    "grid.section": "\(section)", "grid.partition": "\(partition)", "grid.unit": "\(unit)", "epoch": "\(epoch)",
                ])
                publish("grid.partition.promoted", [
                    "section": section, "partition": partition, "unit": unit, "epoch": epoch,
                    "previous": previous ?? "", "sequence": sequence,
                ])
            case .backupAdded(let section, let partition, let unit, let epoch):
                backups.append(["section": section, "partition": partition, "unit": unit, "epoch": epoch])
            case .backupRemoved:
                break
            case .inSync(let section, let partition, let unit):
                inSync["\(section)/\(unit)", default: []].append(partition)
            case .orphaned(let section, let partition, let previous):
                logger.warning("partition orphaned: no in-sync replica lives; waiting for one to come back", metadata: [
                    "grid.section": "\(section)", "grid.partition": "\(partition)", "grace_ms": "\(table.lossGraceMilliseconds)",
                ])
                publish("grid.partition.orphaned", ["section": section, "partition": partition, "previous": previous ?? ""])
            case .lost(let section, let partition):
                counters.lost += 1
                logger.error("partition lost: no unit that holds what it acknowledged came back; it starts again from the database",
                             metadata: ["grid.section": "\(section)", "grid.partition": "\(partition)"])
                publish("grid.partition.lost", ["section": section, "partition": partition])
            case .placed(let section):
                logger.info("section placed", metadata: ["grid.section": "\(section)"])
                publish("grid.section.placed", ["section": section, "units": table.sections[section]?.units ?? []])
            case .moveStarted(let section, let partition, let kind, let from, let to):
                logger.info("partition move started", metadata: [
                    "grid.section": "\(section)", "grid.partition": "\(partition)", "kind": "\(kind.rawValue)", "from": "\(from)", "to": "\(to)",
                ])
                publish("grid.partition.moving", ["section": section, "partition": partition, "kind": kind.rawValue, "from": from, "to": to])
            case .handingOver(let section, let partition, let from, let to):
                publish("grid.partition.handing_over", ["section": section, "partition": partition, "from": from, "to": to])
            case .moved(let section, let partition, let kind, let from, let to):
                counters.moves += 1
                logger.info("partition moved", metadata: [
                    "grid.section": "\(section)", "grid.partition": "\(partition)", "kind": "\(kind.rawValue)", "from": "\(from)", "to": "\(to)",
                ])
                publish("grid.partition.moved", ["section": section, "partition": partition, "kind": kind.rawValue, "from": from, "to": to])
            case .moveCancelled(let section, let partition, let reason):
                logger.warning("partition move given up", metadata: ["grid.section": "\(section)", "grid.partition": "\(partition)", "reason": "\(reason)"])
                publish("grid.partition.move_cancelled", ["section": section, "partition": partition, "reason": reason])
            case .scaled(let section, let count, let draining):
                let reason = scaleReason ?? ""
                logger.info("section scaled", metadata: ["grid.section": "\(section)", "units": "\(count)", "draining": "\(draining)", "reason": "\(reason)"])
                publish("grid.section.scaled", ["section": section, "units": count, "draining": draining, "reason": reason])
            }
        }
        if !leases.isEmpty || !backups.isEmpty {
            publish("grid.table", ["leases": leases, "backups": backups])
        }
        for (key, partitions) in inSync.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
            publish("grid.backup.in_sync", ["section": parts[0], "unit": parts[1], "partitions": partitions.sorted()])
        }
        // A new primary learns of its lease before the requests released below reach it; the
        // other units concerned hear at the end of this loop turn, once per turn however
        // many changes touched them (an ASSIGN carries all of a unit's leases).
        var urgent: Set<String> = []
        for change in changes {
            switch change {
            case .promoted(_, _, let unit, _, _, _), .leased(_, _, let unit, _, _): urgent.insert(unit)
            default: break
            }
        }
        for unit in touchedUnits(changes).sorted() {
            if urgent.contains(unit) { try sendAssignment(to: unit) } else { deferredAssignments.insert(unit) }
        }
        try releaseWaiting(opened)
    }

    /// Sends a unit every lease it holds, with the endpoints of the units it replicates with.
    func sendAssignment(to unit: String) throws(ZMQError) {
        deferredAssignments.remove(unit)
        guard let routingID = routingIDs[unit] else { return }
        let assignments = table.assignments(of: unit)
        var names: Set<String> = [unit]
        for assignment in assignments {
            names.insert(assignment.primary)
            names.formUnion(assignment.backups)
        }
        var peers: [String: AssignBody.Peer] = [:]
        for name in names {
            guard let record = routingIDs[name].flatMap({ units[$0] }) else { continue }
            peers[name] = AssignBody.Peer(publisher: record.publisher, replication: record.replication, incarnation: record.incarnation)
        }
        guard var record = units[routingID] else { return }
        record.assignSent += 1
        units[routingID] = record
        let body = AssignBody(assign: record.assignSent, stamp: record.stamp, assignments: assignments, peers: peers)
        _ = try backend.send(routingID, UnitMessage.assign(body).frames)
    }

    /// Sends the ASSIGNs `apply` left for the end of the loop turn.
    func flushAssignments() throws(ZMQError) {
        guard !deferredAssignments.isEmpty else { return }
        for unit in deferredAssignments.sorted() { try sendAssignment(to: unit) }
    }

    /// Publishes a grid event: topic frame, then a JSON object with the time.
    func publish(_ topic: String, _ fields: [String: Any]) {
        var object = fields
        object["event"] = topic
        object["time_ms"] = Int(Date().timeIntervalSince1970 * 1000)
        guard let json = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        _ = try? events.send([Array(topic.utf8), Array(json)])
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}

/// The broker's request numbers, as the 8-byte envelope units echo.
enum BigEndianNumber {
    static func bytes(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) }
    }

    static func read(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}
