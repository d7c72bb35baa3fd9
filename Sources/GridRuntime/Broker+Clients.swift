import Foundation
import GridClient
import GridCore
import GridWire
import ZeroMQ

extension Broker {
    /// The section name the broker answers itself (`grid status`, `grid ping`, `grid metrics`).
    static let gridService: [UInt8] = Array("grid".utf8)
    /// How often a request is routed again (unit died, or answered 421) before it fails with 503.
    static let maximumAttempts = 5
    /// Requests that may wait for primaries at once; beyond it they fail at once with 503.
    static let maximumWaiting = 100_000

    /// Routes one client message, or answers it with an error; never throws on bad input.
    func onClientMessage(_ frames: [[UInt8]]) throws(ZMQError) {
        guard frames.count >= 2 else {
            counters.dropped += 1
            return
        }
        let client = frames[0]
        let request: ClientWire.Request
        switch ClientWire.decodeRequest(frames[1...]) {
        case .success(let decoded):
            request = decoded
        case .failure(.drop(let reason)):
            counters.dropped += 1
            logger.debug("dropped a client message", metadata: ["reason": "\(reason)"])
            return
        case .failure(.reply(let envelope, let error)):
            try refuse(client, envelope, error)
            return
        }
        counters.requests += 1

        var size = 0
        for frame in frames.dropFirst() { size += frame.count }  // the routing id is ours, not the client's
        guard size <= topology.broker.maxMessageBytes else {
            try refuse(client, request.envelope, .tooLarge(size, limit: topology.broker.maxMessageBytes))
            return
        }
        if request.section == Self.gridService {
            try answerGridService(client, request)
            return
        }
        if request.section.starts(with: ClientWire.mmiPrefix) {
            try answerMMI(client, request)
            return
        }
        guard let section = sectionsByBytes[request.section] else {
            try refuse(client, request.envelope, .unknownSection(preview(request.section)))
            return
        }
        // Before any unit of the section registered, its domain operations are not known yet
        // (a restarted broker): the request is routed, and its unit judges the operation.
        guard section.operations.contains(request.operation) || !section.heard else {
            try refuse(client, request.envelope, .unknownOperation(preview(request.operation), section: section.name))
            return
        }
        guard !request.key.isEmpty, request.key.count <= ClientWire.maximumKeyBytes else {
            try refuse(client, request.envelope, .badKey("a key is 1 to \(ClientWire.maximumKeyBytes) bytes, got \(request.key.count)"))
            return
        }
        let partition: Int
        switch section.partitioner.partition(of: request.key) {
        case .success(let found):
            partition = found
        case .failure(.keyNotInteger):
            try refuse(client, request.envelope, .badKey("section '\(section.name)' is range-partitioned: the key must be an integer, got '\(preview(request.key))'"))
            return
        case .failure(.keyOutOfRange(let value)):
            try refuse(client, request.envelope, .badKey("key \(value) is outside every range of section '\(section.name)'"))
            return
        }
        let arrival = nextArrival
        nextArrival += 1
        try route(PendingRequest(
            client: client, envelope: request.envelope, section: section.name, sectionIndex: section.index, partition: partition,
            operation: request.operation, key: request.key, arguments: request.arguments, requestID: request.requestID,
            since: monotonicMilliseconds(), arrival: arrival))
    }

    /// Sends a request to its partition's primary, or parks it until there is one.
    func route(_ request: PendingRequest) throws(ZMQError) {
        if !routesValid { rebuildRoutes() }
        let row = routes[request.sectionIndex]
        guard row.indices.contains(request.partition), let target = row[request.partition] else {
            try park(request)
            return
        }
        // Each routing gets its own number (the envelope the unit echoes): a reply to an
        // earlier routing of the same request is then told apart and dropped.
        let number = nextRequestNumber
        nextRequestNumber += 1
        let message = UnitMessage.request(
            client: request.client, envelope: BigEndianNumber.bytes(number), route: Route(partition: request.partition, epoch: target.epoch),
            requestID: request.requestID, operation: request.operation, key: request.key, arguments: request.arguments)
        switch try backend.send(target.routingID, message.frames) {
        case .sent:
            target.requests.count += 1
            inFlight[number] = InFlight(request: request, unit: target.routingID)
        case .wouldBlock:
            let unit = units[target.routingID]?.name ?? "?"
            try refuse(request.client, request.envelope, GridError(.unavailable, "unit_busy", "unit \(unit) is saturated; retry"))
        case .unroutable:
            // The unit's connection is gone; heartbeats will declare it dead and the request moves then.
            try park(request)
        }
    }

    /// Keeps a request until its partition has a primary (or its wait runs out).
    func park(_ request: PendingRequest) throws(ZMQError) {
        guard waitingCount < Self.maximumWaiting else {
            try refuse(request.client, request.envelope, .noPrimary(section: request.section, partition: request.partition))
            return
        }
        let key = PartitionKey(section: request.section, partition: request.partition)
        var queue = waiting.removeValue(forKey: key) ?? []
        if let last = queue.last, last.arrival > request.arrival {
            // Routed again after later requests were parked: it goes before them, so a
            // connection's pipelined writes leave in the order they arrived.
            var low = 0, high = queue.count
            while low < high {
                let middle = (low + high) / 2
                if queue[middle].arrival <= request.arrival { low = middle + 1 } else { high = middle }
            }
            queue.insert(request, at: low)
        } else {
            queue.append(request)
        }
        waiting[key] = queue
        waitingCount += 1
    }

    /// Routes the requests parked for partitions that now have a primary.
    func releaseWaiting(_ keys: Set<PartitionKey>) throws(ZMQError) {
        for key in keys {
            guard let parked = waiting.removeValue(forKey: key) else { continue }
            waitingCount -= parked.count
            for request in parked { try route(request) }
        }
    }

    /// Answers 503 to requests that waited longer than `requestWaitMilliseconds`.
    func expireWaiting(now: UInt64) throws(ZMQError) {
        for (key, parked) in waiting {
            let expired = parked.filter { now - min(now, $0.since) >= requestWaitMilliseconds }
            guard !expired.isEmpty else { continue }
            let kept = parked.filter { now - min(now, $0.since) < requestWaitMilliseconds }
            waiting[key] = kept.isEmpty ? nil : kept
            waitingCount -= expired.count
            for request in expired {
                try refuse(request.client, request.envelope, .noPrimary(section: request.section, partition: request.partition))
            }
        }
    }

    /// Sends an error reply to a client whose request the broker refused.
    func refuse(_ client: [UInt8], _ envelope: ClientEnvelope, _ error: GridError) throws(ZMQError) {
        counters.refused += 1
        try sendToClient(client, envelope: envelope, status: error.status, payload: error.payload, meta: ReplyMeta().encoded)
    }

    func sendToClient(_ client: [UInt8], envelope: ClientEnvelope, status: Status, payload: [UInt8], meta: [UInt8]) throws(ZMQError) {
        if try frontend.send(client, ClientWire.encodeReply(envelope: envelope, status: status, payload: payload, meta: meta)) != .sent {
            // The client is gone or not reading: a ROUTER must never block on it.
            counters.dropped += 1
        }
    }

    /// `grid status`, `grid metrics`, `grid ping` and the mirror's `grid mirror` reports, answered by the broker.
    func answerGridService(_ client: [UInt8], _ request: ClientWire.Request) throws(ZMQError) {
        switch String(decoding: request.operation, as: UTF8.self) {
        case "status":
            let summary = request.arguments.first == Array("summary".utf8)
            try sendToClient(client, envelope: request.envelope, status: .ok, payload: status(partitions: !summary).encoded, meta: ReplyMeta().encoded)
        case "metrics":
            try sendToClient(client, envelope: request.envelope, status: .ok, payload: Array(metrics().utf8), meta: ReplyMeta().encoded)
        case "ping":
            try sendToClient(client, envelope: request.envelope, status: .ok, payload: Array("pong".utf8), meta: ReplyMeta().encoded)
        case "scale":
            try answerScale(client, request)
        case "mirror":
            // The mirror's report: kept as the latest, shown by `grid status` and `grid metrics`.
            guard let body = request.arguments.first, let report = MirrorStatus(decoding: body) else {
                try refuse(client, request.envelope, .badArguments("grid mirror needs a mirror report (JSON) as its argument"))
                return
            }
            mirrorReport = report
            mirrorReportAt = monotonicMilliseconds()
            try sendToClient(client, envelope: request.envelope, status: .ok, payload: [], meta: ReplyMeta().encoded)
        default:
            try refuse(client, request.envelope, .unknownOperation(preview(request.operation), section: "grid"))
        }
    }

    /// `grid scale SECTION UNITS`: sets how many units the section should have. Units beyond
    /// it (the most recently added) hand off what they hold; `spacegrid up` starts the
    /// missing ones and stops the drained ones. Answers the section's units and the draining.
    func answerScale(_ client: [UInt8], _ request: ClientWire.Request) throws(ZMQError) {
        let section = String(decoding: request.key, as: UTF8.self)
        guard table.sections[section] != nil else {
            try refuse(client, request.envelope, .badArguments("grid scale: no section '\(preview(request.key))'"))
            return
        }
        guard (1...2).contains(request.arguments.count), let text = String(validating: request.arguments[0], as: UTF8.self),
              let count = Int(text), (1...Self.maximumUnitsPerSection).contains(count) else {
            try refuse(client, request.envelope, .badArguments(
                "grid scale takes the unit count (1 to \(Self.maximumUnitsPerSection)) and optionally why, as arguments"))
            return
        }
        let reason = request.arguments.count == 2 ? String(validating: request.arguments[1].prefix(300), as: UTF8.self) : "spacegrid scale"
        guard let reason else {
            try refuse(client, request.envelope, .badArguments("grid scale: the reason must be UTF-8 text"))
            return
        }
        scaleReason = reason
        defer { scaleReason = nil }
        guard let changes = table.scale(section: section, units: count, now: monotonicMilliseconds()) else {
            try refuse(client, request.envelope, .badArguments("grid scale: section '\(section)' cannot have \(count) units"))
            return
        }
        if let runFolder {
            let counts = Dictionary(uniqueKeysWithValues: table.sections.values.filter(\.scaled).map { ($0.name, $0.expectedUnits) })
            do {
                try SectionScaleFile.store(runFolder: runFolder, counts: counts)
            } catch {
                logger.error("could not store the scaled unit counts; a restarted broker would expect the topology's", metadata: ["error": "\(error)"])
            }
        }
        try apply(changes)
        let state = table.sections[section]!
        let body: [String: Any] = ["section": section, "units": count, "live": state.units, "draining": state.draining.sorted(by: PartitionTable.unitOrder)]
        let payload = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])).map { Array($0) } ?? []
        try sendToClient(client, envelope: request.envelope, status: .ok, payload: payload, meta: ReplyMeta().encoded)
    }

    /// 8/MMI: `mmi.service` says whether a section exists; other `mmi.*` are 501.
    ///
    /// MMI requests carry the service name as their only body frame, which the
    /// decoder reads as the operation frame; the key frame is then absent.
    func answerMMI(_ client: [UInt8], _ request: ClientWire.Request) throws(ZMQError) {
        if request.section == Array("mmi.service".utf8) {
            let known = sectionsByBytes[request.operation] != nil || request.operation == Self.gridService
            try sendToClient(client, envelope: request.envelope, status: known ? .ok : .notFound, payload: known ? Array("200".utf8) : Array("404".utf8), meta: ReplyMeta().encoded)
        } else {
            try refuse(client, request.envelope, GridError(.notImplemented, "not_implemented", "MMI service '\(preview(request.section))' is not implemented"))
        }
    }
}
