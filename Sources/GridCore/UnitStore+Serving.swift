/// Serving requests on a primary: fencing by epoch and lease, exactly-once by request
/// id, and replies that wait until what they depend on is committed.
extension UnitStore {
    /// What serving a request produced.
    public enum Served: Sendable, Equatable {
        /// Answer with `outcome`: now, or (`heldToken`) once what it depends on is committed.
        case answer(OperationOutcome, heldToken: Int?)
        /// The lease lapsed: keep the request until it is renewed (or the unit registers again).
        case waitForLease

        public var outcome: OperationOutcome? {
            if case .answer(let outcome, _) = self { return outcome }
            return nil
        }

        public var heldToken: Int? {
            if case .answer(_, let token) = self { return token }
            return nil
        }
    }

    /// Serves one routed request, fenced by the route's epoch and the lease. A write is
    /// logged for replication; in sync mode every reply waits until the partition's state
    /// it reports is committed (on every backup the primary waits for), so no client ever
    /// sees what a failover could take back.
    public mutating func handle(route: Route, operation: DataOperation, key: [UInt8], arguments: [[UInt8]], request: RequestID? = nil,
                                sync: Bool, now: UInt64) -> Served {
        serve(route: route, request: request, sync: sync, now: now) { operation.execute(key: key, arguments: arguments, on: &$0) }
    }

    /// Serves one routed request with a section's domain operation.
    public mutating func handle(route: Route, run operation: SectionOperation, key: [UInt8], arguments: [[UInt8]], request: RequestID? = nil,
                                sync: Bool, now: UInt64) -> Served {
        serve(route: route, request: request, sync: sync, now: now) { $0.run(operation, key: key, arguments: arguments) }
    }

    /// The request's reply when the unit may serve the partition now; `.waitForLease` or a
    /// 421 when it may not.
    public func admission(route: Route, now: UInt64) -> Served? {
        guard leads(route) else {
            return .answer(.failure(.staleEpoch(partition: route.partition, epoch: route.epoch, current: assignments[route.partition]?.lease.epoch)), heldToken: nil)
        }
        // A claim from before the unit registered again waits for the assignment that confirms it.
        return leaseValid(now: now) && led[route.partition]?.suspended == false ? nil : .waitForLease
    }

    /// Whether this unit may act for `partition` now (a workflow's next step, say): it leads
    /// it, holds its content, has a lease, and no claim of it waits for confirmation.
    public func mayServe(_ partition: Int, now: UInt64) -> Bool {
        guard let led = led[partition] else { return false }
        return !led.loading && !led.suspended && leaseValid(now: now)
    }

    private mutating func serve(route: Route, request: RequestID?, sync: Bool, now: UInt64, _ body: (inout PartitionStore) -> OperationOutcome) -> Served {
        if let refused = admission(route: route, now: now) {
            if refused != .waitForLease { fencedRequests += 1 }
            return refused
        }
        let partition = route.partition
        if let request {
            switch led[partition]!.store.requests.lookup(request) {
            case .fresh:
                break
            case .replay(let entry):
                // Applied before: the first reply, once the change that recorded it is committed.
                let outcome = OperationOutcome(status: entry.reply.status, payload: entry.reply.payload, version: entry.reply.version, change: nil)
                return .answer(outcome, heldToken: sync ? holdToken(partition, until: entry.recordedAt) : nil)
            case .expired:
                return .answer(.failure(.requestExpired(request)), heldToken: nil)
            }
        }
        var outcome = body(&led[partition]!.store)
        if var change = outcome.change {
            if let request {
                let record = RequestRecord(id: request, reply: RecordedReply(status: outcome.status, payload: outcome.payload, version: outcome.version))
                led[partition]!.store.record(record, at: change.sequence)
                change.request = record
                outcome.change = change
            }
            append(change, partition: partition, now: now)
            return .answer(outcome, heldToken: sync ? holdToken(partition, until: change.sequence) : nil)
        }
        // A read or a refusal reports the partition as it is: in sync mode it waits until that is committed.
        return .answer(outcome, heldToken: sync ? holdToken(partition, until: led[partition]!.store.sequence) : nil)
    }

    /// Logs a change for replication and tells the acknowledgement tracker.
    private mutating func append(_ change: Change, partition: Int, now: UInt64) {
        led[partition]!.log.append(change, at: now)
        led[partition]!.acks.onAppend(sequence: change.sequence)
    }

    /// A token to hold a reply under until `sequence` is committed, or nil when it already is.
    private mutating func holdToken(_ partition: Int, until sequence: UInt64) -> Int? {
        let candidate = nextToken
        nextToken += 1
        return led[partition]!.acks.hold(candidate, sequence: sequence).isEmpty ? candidate : nil
    }

    /// A write the unit makes on its own (a workflow recording its progress) in a partition it leads.
    /// Returns the change, and in sync mode the token a reply depending on it must wait under.
    public mutating func write(partition: Int, key: [UInt8], _ write: OperationOutput.Write, sync: Bool, now: UInt64) -> (change: Change?, token: Int?) {
        guard led[partition] != nil, !led[partition]!.loading else { return (nil, nil) }
        let change: Change?
        switch write {
        case .none: change = nil
        case .put(let value): change = led[partition]!.store.put(key, value)
        case .delete: change = led[partition]!.store.delete(key)
        }
        guard let change else { return (nil, nil) }
        append(change, partition: partition, now: now)
        return (change, sync ? holdToken(partition, until: change.sequence) : nil)
    }
}

extension GridError {
    /// A request whose number is below what the partition remembers of its client.
    public static func requestExpired(_ id: RequestID) -> GridError {
        GridError(.conflict, "request_expired",
                  "request \(id.sequence) of client \(RequestID.describe(id.client)) is older than what this partition remembers; it was answered before")
    }
}

extension RequestID {
    /// A client id for messages: as text when it is printable, else in hex.
    public static func describe(_ client: [UInt8]) -> String {
        if client.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) { return String(decoding: client, as: UTF8.self) }
        return client.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}
