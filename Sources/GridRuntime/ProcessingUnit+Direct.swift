import GridCore
import GridWire
import ZeroMQ

/// The direct path (PROTOCOL.md 1.6): partition-aware clients' requests on the unit's client ROUTER.
extension ProcessingUnit {
    /// Serves the direct requests waiting on the client ROUTER, a bounded number per wake-up.
    func drainDirectRequests() throws(ZMQError) {
        guard let clientRouter else { return }
        var frames: [[UInt8]] = []
        for _ in 0..<512 {
            guard try clientRouter.receive(into: &frames) else { return }
            try onDirectRequest(frames)
        }
    }

    /// Checks a direct request as the broker would check a routed one (PROTOCOL.md 1.6),
    /// then serves it; the unit's epoch check does the fencing.
    func onDirectRequest(_ frames: [[UInt8]]) throws(ZMQError) {
        guard frames.count >= 2, let partitioner = configuration.partitioner else { return }
        let client = frames[0]
        let request: ClientWire.DirectRequest
        switch ClientWire.decodeDirectRequest(frames[1...]) {
        case .success(let decoded):
            request = decoded
        case .failure(.drop):
            return
        case .failure(.reply(let envelope, let error)):
            try send(HeldReply(path: .direct, client: client, envelope: envelope.encoded,
                               frames: [client] + ClientWire.encodeReply(envelope: envelope, status: error.status, payload: error.payload, meta: ReplyMeta().encoded)))
            return
        }
        let envelope = ClientEnvelope(kind: .native, tag: request.correlation).encoded
        var size = 0
        for frame in frames.dropFirst() { size += frame.count }
        if let problem = directProblem(request, size: size, partitioner: partitioner) {
            try reply(client, envelope, .failure(problem), path: .direct)
            return
        }
        try onRequest(ParkedRequest(client: client, envelope: envelope, route: request.route, requestID: request.requestID,
                                    operationName: request.operation, key: request.key, arguments: request.arguments, path: .direct))
    }

    /// Why a direct request cannot be served here, or nil. A key outside the
    /// partition named would be stored where no lookup finds it, so it is refused.
    private func directProblem(_ request: ClientWire.DirectRequest, size: Int, partitioner: Partitioner) -> GridError? {
        guard size <= configuration.maxMessageBytes else { return .tooLarge(size, limit: configuration.maxMessageBytes) }
        guard request.section.elementsEqual(configuration.section.utf8) else {
            return .unknownSection("\(preview(request.section)) (this unit serves '\(configuration.section)')")
        }
        guard !request.key.isEmpty, request.key.count <= ClientWire.maximumKeyBytes else {
            return .badKey("a key is 1 to \(ClientWire.maximumKeyBytes) bytes, got \(request.key.count)")
        }
        switch partitioner.partition(of: request.key) {
        case .success(let partition) where partition == request.route.partition:
            return nil
        case .success(let partition):
            // 421, so a client with a wrong table refreshes it and goes through the broker.
            return GridError(.misdirected, "wrong_partition", "key '\(preview(request.key))' is in partition \(partition), not \(request.route.partition)")
        case .failure:
            return GridError(.misdirected, "wrong_partition", "key '\(preview(request.key))' has no partition here; send it through the broker")
        }
    }
}
