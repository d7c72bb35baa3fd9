import GridClient
import GridCore
import GridWire
import ZeroMQ

/// Where a reply goes: back through the broker, or straight to a
/// partition-aware client on the unit's client ROUTER.
enum ReplyPath: Sendable, Equatable {
    case broker
    case direct
}

/// A reply kept until what it reports is committed (sync mode), with what it takes to
/// answer 421 instead when that never happens here.
struct HeldReply {
    var path: ReplyPath
    var client: [UInt8]
    var envelope: [UInt8]
    var frames: [[UInt8]]
}

/// Serving requests: the lease and the load decide whether now, the store decides what.
extension ProcessingUnit {
    /// A request as the unit takes it, from the broker or a direct client.
    struct ParkedRequest {
        var client: [UInt8]
        var envelope: [UInt8]
        var route: Route
        var requestID: RequestID?
        var operationName: [UInt8]
        var key: [UInt8]
        var arguments: [[UInt8]]
        var path: ReplyPath
    }

    /// How many requests may wait for a lease or a load at once; beyond, 503.
    static let maximumParked = 100_000

    /// Serves a request, or keeps it until its partition is loaded or the lease is renewed.
    func onRequest(_ request: ParkedRequest) throws(ZMQError) {
        let route = request.route
        if store.led[route.partition]?.loading == true, store.leads(route) {
            // Served once the partition is loaded from the database: never from an empty one.
            try park(request, in: \.waitingForLoad, reason: "loading", message: "partition \(route.partition) is loading from the database")
            return
        }
        let sync = configuration.mode == .sync
        let now = monotonicMilliseconds()
        let served: UnitStore.Served
        if let operation = DataOperation(name: request.operationName) {
            served = store.handle(route: route, operation: operation, key: request.key, arguments: request.arguments, request: request.requestID,
                                  sync: sync, now: now)
        } else if let logic = configuration.logic {
            let name = String(decoding: request.operationName, as: UTF8.self)
            if let operation = logic.operations[name] {
                served = store.handle(route: route, run: operation, key: request.key, arguments: request.arguments, request: request.requestID,
                                      sync: sync, now: now)
            } else if let workflow = logic.workflows[name] {
                guard request.path == .broker else {
                    try reply(request, .failure(GridError(.misdirected, "use_broker", "workflow '\(name)' runs through the broker, not as a direct request")))
                    return
                }
                if let refused = store.admission(route: route, now: now) {
                    try answer(request, refused)
                    return
                }
                try startWorkflow(name, workflow, client: request.client, envelope: request.envelope, route: route, key: request.key, arguments: request.arguments)
                return
            } else {
                served = .answer(.failure(.unknownOperation(name, section: configuration.section)), heldToken: nil)
            }
        } else {
            served = .answer(.failure(.unknownOperation(preview(request.operationName), section: configuration.section)), heldToken: nil)
        }
        try answer(request, served)
    }

    private func answer(_ request: ParkedRequest, _ served: UnitStore.Served) throws(ZMQError) {
        switch served {
        case .waitForLease:
            try park(request, in: \.waitingForLease, reason: "lease_expired",
                     message: "unit \(configuration.name) has not heard from the broker lately; retry")
        case .answer(let outcome, let token):
            if let change = outcome.change { replicate(change) }
            if let token {
                heldReplies[token, default: []].append(HeldReply(path: request.path, client: request.client, envelope: request.envelope,
                                                                 frames: replyFrames(request.client, request.envelope, outcome, path: request.path)))
            } else {
                try reply(request, outcome)
            }
        }
    }

    /// Keeps a request for later, or answers 503 when too many wait already.
    private func park(_ request: ParkedRequest, in queue: ReferenceWritableKeyPath<ProcessingUnit, [ParkedRequest]>, reason: String, message: String) throws(ZMQError) {
        guard self[keyPath: queue].count < Self.maximumParked else {
            try reply(request, .failure(GridError(.unavailable, reason, message)))
            return
        }
        self[keyPath: queue].append(request)
    }

    /// The unit registers again: requests that waited for the lease are answered 421 (the
    /// broker routes a broker request again; a direct client goes through the broker).
    func refuseWaitingForLease() throws(ZMQError) {
        let parked = waitingForLease
        waitingForLease.removeAll()
        for request in parked {
            try reply(request, .failure(.staleEpoch(partition: request.route.partition, epoch: request.route.epoch, current: nil)))
        }
    }

    /// Partitions no longer led here: what waited for their load or for the lease goes elsewhere.
    func refuseWaiting(notLedAnyMore partitions: Set<Int>) throws(ZMQError) {
        guard !partitions.isEmpty else { return }
        for queue in [\ProcessingUnit.waitingForLease, \ProcessingUnit.waitingForLoad] {
            let moved = self[keyPath: queue].filter { partitions.contains($0.route.partition) }
            guard !moved.isEmpty else { continue }
            self[keyPath: queue].removeAll { partitions.contains($0.route.partition) }
            for request in moved {
                try reply(request, .failure(.staleEpoch(partition: request.route.partition, epoch: request.route.epoch,
                                                         current: store.assignments[request.route.partition]?.lease.epoch)))
            }
        }
    }

    /// Publishes a change now (sync) or at the next flush (async).
    func replicate(_ change: Change) {
        if configuration.mode == .sync { publish(change) } else { outbox.append(change) }
    }

    /// A reply's frames: a REPLY for the broker, or for a direct request the
    /// client's native reply behind its routing id.
    func replyFrames(_ client: [UInt8], _ envelope: [UInt8], _ outcome: OperationOutcome, path: ReplyPath = .broker) -> [[UInt8]] {
        let meta = ReplyMeta(version: outcome.version, unit: configuration.name).encoded
        switch path {
        case .broker:
            return UnitMessage.reply(client: client, envelope: envelope, status: outcome.status, payload: outcome.payload, meta: meta).frames
        case .direct:
            let native = ClientEnvelope(encoded: envelope) ?? ClientEnvelope(kind: .native, tag: [])
            return [client] + ClientWire.encodeReply(envelope: native, status: outcome.status, payload: outcome.payload, meta: meta)
        }
    }

    func reply(_ request: ParkedRequest, _ outcome: OperationOutcome) throws(ZMQError) {
        try reply(request.client, request.envelope, outcome, path: request.path)
    }

    func reply(_ client: [UInt8], _ envelope: [UInt8], _ outcome: OperationOutcome, path: ReplyPath = .broker) throws(ZMQError) {
        try send(HeldReply(path: path, client: client, envelope: envelope, frames: replyFrames(client, envelope, outcome, path: path)))
    }

    /// Sends a reply on its path. A direct client that is gone or not reading
    /// is not waited for (a ROUTER never blocks on one client); it times out and retries.
    func send(_ reply: HeldReply) throws(ZMQError) {
        switch reply.path {
        case .broker:
            try sendToBroker(reply.frames)
        case .direct:
            _ = try clientRouter?.send(reply.frames)
        }
    }
}
