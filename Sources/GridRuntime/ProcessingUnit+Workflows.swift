import GridClient
import GridCore
import GridWire
import ZeroMQ

/// The workflow engine (DESIGN.md section 7): runs a section's workflows
/// (sagas such as `order.place`) on the primary of the entry they live in.
///
/// The workflow's pure functions decide; this shell writes the entry (which
/// replicates it), sends the steps through the broker on a DEALER of its own,
/// feeds the replies back, and answers the waiting clients once a result
/// is written (in sync mode, after the backups acknowledged it). Steps with no
/// reply are sent again; a partition this unit just became primary of has its
/// unfinished workflows resumed from their entries.
extension ProcessingUnit {
    /// A step sent and not answered yet.
    struct PendingCall {
        var workflow: String
        var partition: Int
        var key: [UInt8]
        var call: WorkflowCall
        var sentAt: UInt64
    }

    /// The clients waiting for one entry's workflow, and the partition it lives in.
    struct WorkflowWaiters {
        var partition: Int
        var clients: [(client: [UInt8], envelope: [UInt8])]
    }

    /// Steps unanswered for this long are sent again (they are idempotent).
    static let workflowRetryMilliseconds: UInt64 = 3_000

    func startWorkflow(_ name: String, _ workflow: Workflow, client: [UInt8], envelope: [UInt8], route: Route, key: [UInt8], arguments: [[UInt8]]) throws(ZMQError) {
        let current = store.led[route.partition]?.store.get(key)
        let decision = workflow.start(OperationInput(key: key, value: current?.value, version: current?.version ?? 0, arguments: arguments))
        workflowWaiters[key, default: WorkflowWaiters(partition: route.partition, clients: [])].clients.append((client, envelope))
        try carryOut(decision, workflow: name, partition: route.partition, key: key)
    }

    /// Writes the decision's entry, sends its calls, and answers the waiting clients when it has a result.
    func carryOut(_ decision: WorkflowDecision, workflow: String, partition: Int, key: [UInt8]) throws(ZMQError) {
        let now = monotonicMilliseconds()
        var token: Int?
        if decision.write != .none {
            let written = store.write(partition: partition, key: key, decision.write, sync: configuration.mode == .sync, now: now)
            if let change = written.change { replicate(change) }
            token = written.token
        }
        for call in decision.calls {
            if let token {
                // Write-ahead: a step goes out only once the state that decided it is on the backups,
                // so a new primary never lacks a workflow whose steps already ran.
                heldCalls[token, default: []].append(PendingCall(workflow: workflow, partition: partition, key: key, call: call, sentAt: now))
            } else {
                try send(call, workflow: workflow, partition: partition, key: key, now: now)
            }
        }
        guard let result = decision.result, let waiters = workflowWaiters.removeValue(forKey: key) else { return }
        let version = store.led[partition]?.store.get(key)?.version ?? 0
        let outcome = OperationOutcome(status: result.status, payload: result.payload, version: version, change: nil)
        let replies = waiters.clients.map { replyFrames($0.client, $0.envelope, outcome) }
        if let token {
            // The result is only true once its entry is on the backups.
            heldReplies[token, default: []] += zip(waiters.clients, replies).map {
                HeldReply(path: .broker, client: $0.0.client, envelope: $0.0.envelope, frames: $0.1)
            }
        } else {
            for frames in replies { try sendToBroker(frames) }
        }
    }

    /// Sends a step under its request id: the workflow's entry is the client, the step its
    /// number, so every copy of a step (a retry, a resume by a new primary, a deposed primary's
    /// late one) is applied at most once where it lands.
    func send(_ call: WorkflowCall, workflow: String, partition: Int, key: [UInt8], now: UInt64) throws(ZMQError) {
        guard let socket = try workflowSocket() else { return }
        let correlation = nextCorrelation
        nextCorrelation &+= 1
        let frames = ClientWire.encodeNativeRequest(
            correlation: ClientWire.correlation(correlation), requestID: Self.stepRequestID(section: configuration.section, key: key, step: call.step),
            section: call.section, operation: call.operation, key: call.key, arguments: call.arguments)
        _ = try socket.send(frames, blocking: true)
        workflowCalls[correlation] = PendingCall(workflow: workflow, partition: partition, key: key, call: call, sentAt: now)
    }

    /// A step's request id: client `wf:<section>/<entry key>` (the workflow's entry; cut to
    /// 64 bytes by hashing a longer one), sequence the FNV-1a hash of the step's name.
    static func stepRequestID(section: String, key: [UInt8], step: String) -> RequestID {
        var client = Array("wf:\(section)/".utf8) + key
        if client.count > RequestID.maximumClientBytes {
            client = Array(client.prefix(40)) + Array(String(FNV1a.hash(client), radix: 16).utf8)
        }
        return RequestID(client: client, sequence: max(1, FNV1a.hash(Array(step.utf8))))
    }

    /// The DEALER to the broker's client endpoint, opened on first use.
    func workflowSocket() throws(ZMQError) -> Socket? {
        if let workflowClient { return workflowClient }
        guard let endpoint = configuration.clients else { return nil }
        let socket = try Socket(context, .dealer, linger: 0)
        try socket.setHighWaterMarks(send: 100_000, receive: 100_000)
        try socket.setReconnectInterval(milliseconds: 50, maximum: 1_000)
        try context.curve?.connect(socket)
        try socket.connect(endpoint)
        workflowClient = socket
        return socket
    }

    /// Replies to workflow steps: each advances its workflow, if this unit still leads the entry.
    func drainWorkflowReplies() throws(ZMQError) {
        guard let socket = workflowClient else { return }
        for _ in 0..<1_024 {
            guard let frames = try socket.receive() else { return }
            guard let reply = ClientWire.decodeNativeReply(frames), let correlation = ClientWire.correlationValue(reply.correlation),
                  let pending = workflowCalls.removeValue(forKey: correlation) else { continue }
            guard store.mayServe(pending.partition, now: monotonicMilliseconds()) else {
                // Without a lease (or deposed) the unit decides nothing: the step is asked
                // again later if it still leads, and its request id replays the same reply.
                if store.led[pending.partition] != nil { workflowCalls[correlation] = pending }
                continue
            }
            guard let workflow = configuration.logic?.workflows[pending.workflow],
                  let entry = store.led[pending.partition]?.store.get(pending.key) else { continue }
            let decision = workflow.advance(pending.key, entry.value, pending.call.step, reply.status, reply.payload)
            try carryOut(decision, workflow: pending.workflow, partition: pending.partition, key: pending.key)
        }
    }

    /// Sends again the steps that got no reply (a reply lost with a crashed broker, say).
    func retryStaleWorkflowCalls(now: UInt64) throws(ZMQError) {
        let stale = workflowCalls.filter { now - min(now, $0.value.sentAt) >= Self.workflowRetryMilliseconds }
        for (correlation, pending) in stale {
            guard store.mayServe(pending.partition, now: now) else {
                if store.led[pending.partition] == nil { workflowCalls[correlation] = nil }
                continue
            }
            workflowCalls[correlation] = nil
            try send(pending.call, workflow: pending.workflow, partition: pending.partition, key: pending.key, now: now)
        }
    }

    /// Resumes every unfinished workflow stored in `partitions` (just led by this unit).
    func resumeWorkflows(in partitions: Set<Int>) throws(ZMQError) {
        guard let logic = configuration.logic, !logic.workflows.isEmpty, !partitions.isEmpty else { return }
        var resumed = 0
        for partition in partitions.sorted() {
            guard let entries = store.led[partition]?.store.entries else { continue }
            for (key, entry) in entries {
                for (name, workflow) in logic.workflows {
                    guard let decision = workflow.resume(key, entry.value) else { continue }
                    resumed += 1
                    try carryOut(decision, workflow: name, partition: partition, key: key)
                }
            }
        }
        if resumed > 0 {
            logger.info("resumed unfinished workflows", metadata: ["grid.unit": "\(configuration.name)", "count": "\(resumed)"])
        }
    }

    /// Drops the steps and waiters of partitions this unit no longer leads: the new primary resumes them.
    func forgetWorkflows(notLedAnyMore partitions: Set<Int>) {
        guard !partitions.isEmpty, !workflowCalls.isEmpty || !workflowWaiters.isEmpty else { return }
        workflowCalls = workflowCalls.filter { !partitions.contains($0.value.partition) }
        workflowWaiters = workflowWaiters.filter { !partitions.contains($0.value.partition) }
    }
}
