import GridCore
import GridWire
import ZeroMQ

extension Broker {
    /// The section name the broker answers itself (`grid status`, `grid ping`).
    static let gridService: [UInt8] = Array("grid".utf8)
    static let mmiPrefix: [UInt8] = Array("mmi.".utf8)

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
        if request.section.starts(with: Self.mmiPrefix) {
            try answerMMI(client, request)
            return
        }
        guard let section = sectionsByBytes[request.section] else {
            try refuse(client, request.envelope, .unknownSection(preview(request.section)))
            return
        }
        guard section.operations.contains(request.operation) else {
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
        guard let (unit, epoch) = table.primary(section: section.name, partition: partition),
              let routingID = routingIDs[unit] else {
            try refuse(client, request.envelope, .noPrimary(section: section.name, partition: partition))
            return
        }
        let message = UnitMessage.request(
            client: client, envelope: request.envelope.encoded, route: Route(partition: partition, epoch: epoch),
            operation: request.operation, key: request.key, arguments: request.arguments)
        switch try backend.send([routingID] + message.frames) {
        case .sent:
            units[routingID]?.requests += 1
        case .wouldBlock:
            try refuse(client, request.envelope, GridError(.unavailable, "unit_busy", "unit \(unit) is saturated; retry"))
        case .unroutable:
            try refuse(client, request.envelope, GridError(.unavailable, "unit_gone", "unit \(unit) just went away; retry"))
        }
    }

    /// Sends an error reply to a client whose request the broker refused.
    func refuse(_ client: [UInt8], _ envelope: ClientEnvelope, _ error: GridError) throws(ZMQError) {
        counters.refused += 1
        try sendToClient(client, envelope: envelope, status: error.status, payload: error.payload, meta: ReplyMeta().encoded)
    }

    func sendToClient(_ client: [UInt8], envelope: ClientEnvelope, status: Status, payload: [UInt8], meta: [UInt8]) throws(ZMQError) {
        let frames = [client] + ClientWire.encodeReply(envelope: envelope, status: status, payload: payload, meta: meta)
        if try frontend.send(frames) != .sent {
            // The client is gone or not reading: a ROUTER must never block on it.
            counters.dropped += 1
        }
    }

    /// `grid status` and `grid ping`, answered by the broker.
    func answerGridService(_ client: [UInt8], _ request: ClientWire.Request) throws(ZMQError) {
        switch String(decoding: request.operation, as: UTF8.self) {
        case "status":
            try sendToClient(client, envelope: request.envelope, status: .ok, payload: status().encoded, meta: ReplyMeta().encoded)
        case "ping":
            try sendToClient(client, envelope: request.envelope, status: .ok, payload: Array("pong".utf8), meta: ReplyMeta().encoded)
        default:
            try refuse(client, request.envelope, .unknownOperation(preview(request.operation), section: "grid"))
        }
    }

    /// 8/MMI: `mmi.service` says whether a section exists; other `mmi.*` are 501.
    ///
    /// MMI requests carry the service name as their only body frame, which the
    /// decoder reads as the operation frame; the key frame is then absent, so
    /// they are handled before key validation.
    func answerMMI(_ client: [UInt8], _ request: ClientWire.Request) throws(ZMQError) {
        if request.section == Array("mmi.service".utf8) {
            let known = sectionsByBytes[request.operation] != nil || request.operation == Self.gridService
            try sendToClient(client, envelope: request.envelope, status: known ? .ok : .notFound, payload: known ? Array("200".utf8) : Array("404".utf8), meta: ReplyMeta().encoded)
        } else {
            try refuse(client, request.envelope, GridError(.notImplemented, "not_implemented", "MMI service '\(preview(request.section))' is not implemented"))
        }
    }
}
