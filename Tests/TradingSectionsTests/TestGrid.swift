import Foundation
import GridCore
import TradingSections
import XCTest

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// A reply, as a unit would send it.
struct Reply: Hashable, CustomStringConvertible {
    var status: Status
    var payload: [UInt8]

    var text: String { String(decoding: payload, as: UTF8.self) }
    var code: String { GridError(status: status, payload: payload).code }
    var message: String { GridError(status: status, payload: payload).message }
    var description: String { "\(status.rawValue) \(text)" }
}

/// A tiny in-memory grid: one partition store per trading section, operations
/// applied to entries exactly as a unit does (`PartitionStore.run` and
/// `DataOperation.execute`). No sockets, no clock.
struct TestGrid {
    var stores: [String: PartitionStore] = [:]

    init() {
        for section in SectionCatalog.all { stores[section.name] = PartitionStore(partition: 0, epoch: 1) }
    }

    /// Runs `operation` of `section` on `key`, with the arguments as frames (one JSON object by convention).
    mutating func run(_ section: String, _ operation: String, _ key: [UInt8], _ arguments: [[UInt8]]) -> Reply {
        guard var store = stores[section], let logic = SectionCatalog.section(named: section) else {
            return Reply(status: .badRequest, payload: GridError.unknownSection(section).payload)
        }
        defer { stores[section] = store }
        if let data = DataOperation(name: Array(operation.utf8)) {
            let outcome = data.execute(key: key, arguments: arguments, on: &store)
            return Reply(status: outcome.status, payload: outcome.payload)
        }
        guard let body = logic.operations[operation] else {
            return Reply(status: .badRequest, payload: GridError.unknownOperation(operation, section: section).payload)
        }
        let outcome = store.run(body, key: key, arguments: arguments)
        return Reply(status: outcome.status, payload: outcome.payload)
    }

    /// `call("customer", "trade", "42", #"{"amount":500,"stock":"AAPL"}"#)`; nil arguments send no frame.
    @discardableResult
    mutating func call(_ section: String, _ operation: String, _ key: String, _ arguments: String? = nil) -> Reply {
        run(section, operation, bytes(key), arguments.map { [bytes($0)] } ?? [])
    }

    mutating func run(_ call: WorkflowCall) -> Reply {
        run(call.section, call.operation, call.key, call.arguments)
    }

    mutating func put(_ section: String, _ key: String, _ value: String) {
        _ = stores[section]!.put(bytes(key), bytes(value))
    }

    func value(_ section: String, _ key: String) -> String? {
        stores[section]?.get(bytes(key)).map { text($0.value) }
    }

    /// The section's entries, sorted by key.
    func entries(_ section: String) -> [(key: String, value: [UInt8])] {
        (stores[section]?.entries ?? [:]).map { (text($0.key), $0.value.value) }.sorted { $0.key < $1.key }
    }

    /// A stored value as a JSON object.
    func object(_ section: String, _ key: String) -> [String: Any]? {
        guard let value = stores[section]?.get(bytes(key))?.value else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(value))) as? [String: Any]
    }

    func int(_ section: String, _ key: String, _ field: String) -> Int64? {
        (object(section, key)?[field] as? NSNumber)?.int64Value
    }
}

/// Drives `order.place` workflows over a `TestGrid` the way units and the
/// broker do, with the faults of a real network under control: calls to one
/// key are delivered in the order sent (a unit's DEALER and the broker keep
/// order), everything else in any order; calls and replies may be duplicated
/// or lost; the order's primary may crash (its in-flight replies are lost, a
/// new primary resumes the workflow from the stored entry). Seeded, so a
/// failure replays.
struct SagaNetwork {
    struct Faults {
        /// Pick the next event at random (false: the oldest first).
        var shuffle = false
        var duplicateCall = 0.0
        var duplicateReply = 0.0
        var dropCall = 0.0
        var dropReply = 0.0
        /// Per event: the primary of one running order crashes and a new one resumes it.
        var crash = 0.0
        /// Per event: one running order's awaited steps are sent again while the first copies may still be
        /// in flight (a unit's retry timer), so copies of a step can run far apart.
        var retry = 0.0
        /// Per event: the whole order unit fails over (every entry resumed), at most `failovers` times.
        var failover = 0.0
        var failovers = 10

        static let none = Faults()
    }

    struct Destination: Hashable { var section: String; var key: [UInt8] }

    struct InFlightCall { var sequence: Int; var order: [UInt8]; var epoch: Int; var call: WorkflowCall }
    struct InFlightReply { var sequence: Int; var order: [UInt8]; var epoch: Int; var step: String; var reply: Reply }

    var grid: TestGrid
    var faults: Faults
    var rng: SplitMix64
    let workflow = SectionCatalog.section(named: "order")!.workflows["place"]!

    private var queues: [Destination: [InFlightCall]] = [:]
    /// Destinations with calls queued, in a deterministic order (dictionaries iterate differently per process).
    private var busy: [Destination] = []
    private var replies: [InFlightReply] = []
    private var epochs: [[UInt8]: Int] = [:]
    private var sequence = 0
    /// Every reply each order's clients were given, in order.
    private(set) var results: [String: [Reply]] = [:]
    /// Clients waiting for each order's result (kept across crashes: a client retries on the new primary).
    private(set) var waiters: [String: Int] = [:]
    /// Every call sent, in order (to check what a workflow asked for).
    private(set) var sent: [WorkflowCall] = []
    private(set) var events = 0
    /// Orders not `done` or `failed`, kept up to date on every write (a list, for seeded random picks).
    private var running: [[UInt8]] = []
    private var runningIndex: [[UInt8]: Int] = [:]

    init(grid: TestGrid, faults: Faults = .none, seed: UInt64 = 1) {
        self.grid = grid
        self.faults = faults
        self.rng = SplitMix64(seed: seed)
    }

    var inFlight: Bool { !busy.isEmpty || !replies.isEmpty }

    // MARK: - Clients and units

    /// A client's `order.place`: the workflow's `start` on the entry as stored.
    @discardableResult
    mutating func place(_ order: String, _ arguments: String) -> WorkflowDecision {
        let key = bytes(order)
        let entry = grid.stores["order"]!.get(key)
        let decision = workflow.start(OperationInput(key: key, value: entry?.value, version: entry?.version ?? 0, arguments: [bytes(arguments)]))
        waiters[order, default: 0] += 1
        carryOut(decision, order: key)
        return decision
    }

    /// The order's primary died: its in-flight replies are lost; the new primary resumes the workflow.
    mutating func crash(_ order: [UInt8], dropCalls: Bool = false) {
        epochs[order, default: 0] += 1
        replies.removeAll { $0.order == order }
        if dropCalls {
            for destination in busy { queues[destination]?.removeAll { $0.order == order } }
            busy.removeAll { queues[$0]?.isEmpty ?? true }
        }
        resume(order)
    }

    /// The whole order unit failed over: every entry resumed by the new primary.
    mutating func failover() {
        for (key, _) in grid.entries("order") { epochs[bytes(key), default: 0] += 1 }
        replies.removeAll()
        for (key, _) in grid.entries("order") { resume(bytes(key)) }
    }

    mutating func resume(_ order: [UInt8]) {
        guard let value = grid.stores["order"]!.get(order)?.value, let decision = workflow.resume(order, value) else { return }
        carryOut(decision, order: order)
    }

    /// What a unit does with a decision: write the entry, send the calls, answer the clients.
    mutating func carryOut(_ decision: WorkflowDecision, order: [UInt8]) {
        switch decision.write {
        case .none: break
        case .put(let value):
            _ = grid.stores["order"]!.put(order, value)
            let state = OrderState.of(value)
            setRunning(order, state != nil && state != "done" && state != "failed")
        case .delete:
            _ = grid.stores["order"]!.delete(order)
            setRunning(order, false)
        }
        for call in decision.calls {
            send(call, order: order)
            if chance(faults.duplicateCall) { send(call, order: order) }
        }
        if let result = decision.result, let count = waiters.removeValue(forKey: text(order)) {
            results[text(order), default: []] += Array(repeating: Reply(status: result.status, payload: result.payload), count: count)
        }
    }

    private mutating func setRunning(_ order: [UInt8], _ isRunning: Bool) {
        if isRunning, runningIndex[order] == nil {
            runningIndex[order] = running.count
            running.append(order)
        } else if !isRunning, let index = runningIndex.removeValue(forKey: order) {
            let last = running.removeLast()
            if index < running.count {
                running[index] = last
                runningIndex[last] = index
            }
        }
    }

    private mutating func send(_ call: WorkflowCall, order: [UInt8]) {
        sent.append(call)
        sequence += 1
        let destination = Destination(section: call.section, key: call.key)
        if queues[destination, default: []].isEmpty { busy.append(destination) }
        queues[destination, default: []].append(InFlightCall(sequence: sequence, order: order, epoch: epochs[order, default: 0], call: call))
    }

    // MARK: - Delivery

    /// Delivers one event (a call to its section, or a reply to its workflow); false when nothing is in flight.
    @discardableResult
    mutating func step() -> Bool {
        guard inFlight else { return false }
        events += 1
        if faults.failovers > 0, chance(faults.failover) {
            faults.failovers -= 1
            failover()
            return true
        }
        if chance(faults.retry), !running.isEmpty {
            resume(running[rng.below(running.count)])
            return true
        }
        if chance(faults.crash), !running.isEmpty {
            crash(running[rng.below(running.count)], dropCalls: chance(0.5))
            return true
        }
        guard inFlight else { return true }
        let callIndex: Int?
        if faults.shuffle {
            let pickCall = replies.isEmpty || (!busy.isEmpty && rng.below(2) == 0)
            callIndex = pickCall ? rng.below(busy.count) : nil
        } else {
            let oldestCall = busy.indices.min { queues[busy[$0]]![0].sequence < queues[busy[$1]]![0].sequence }
            let oldestReply = replies.indices.min { replies[$0].sequence < replies[$1].sequence }
            if let oldestCall, let oldestReply {
                callIndex = queues[busy[oldestCall]]![0].sequence < replies[oldestReply].sequence ? oldestCall : nil
            } else {
                callIndex = oldestCall
            }
        }
        if let callIndex { deliverCall(at: callIndex) } else { deliverReply() }
        return true
    }

    private mutating func deliverCall(at index: Int) {
        let destination = busy[index]
        let inFlight = queues[destination]!.removeFirst()
        if queues[destination]!.isEmpty { busy.remove(at: index) }
        if chance(faults.dropCall) { return }
        let reply = grid.run(inFlight.call)
        if chance(faults.dropReply) { return }
        for _ in 0..<(chance(faults.duplicateReply) ? 2 : 1) {
            sequence += 1
            replies.append(InFlightReply(sequence: sequence, order: inFlight.order, epoch: inFlight.epoch, step: inFlight.call.step, reply: reply))
        }
    }

    private mutating func deliverReply() {
        let reply: InFlightReply
        if faults.shuffle {
            replies.swapAt(rng.below(replies.count), replies.count - 1)
            reply = replies.removeLast()
        } else {
            reply = replies.remove(at: replies.indices.min { replies[$0].sequence < replies[$1].sequence }!)
        }
        guard reply.epoch == epochs[reply.order, default: 0], let value = grid.stores["order"]!.get(reply.order)?.value else { return }
        carryOut(workflow.advance(reply.order, value, reply.step, reply.reply.status, reply.reply.payload), order: reply.order)
    }

    /// Delivers everything, resuming unfinished orders whenever nothing is in flight (as a unit's retry
    /// timer does), until every order is `done` or `failed`.
    mutating func settle(file: StaticString = #filePath, line: UInt = #line) {
        for _ in 0..<200 {
            var steps = 0
            while step() {
                steps += 1
                guard steps < 2_000_000 else { break }
            }
            let running = runningOrders()
            if running.isEmpty { return }
            for order in running { resume(order) }
        }
        XCTFail("orders still unfinished: \(runningOrders().prefix(5).map { text($0) + " " + (grid.value("order", text($0)) ?? "") })", file: file, line: line)
    }

    /// Orders not yet `done` or `failed`, sorted.
    func runningOrders() -> [[UInt8]] {
        running.sorted { $0.lexicographicallyPrecedes($1) }
    }

    func state(of order: String) -> String? { grid.stores["order"]!.get(bytes(order)).flatMap { OrderState.of($0.value) } }

    private mutating func chance(_ probability: Double) -> Bool {
        probability > 0 && Double(rng.next() >> 11) / Double(1 << 53) < probability
    }
}

enum OrderState {
    /// The `state` of an order entry; nil for anything else.
    static func of(_ value: [UInt8]) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(value))) as? [String: Any])?["state"] as? String
    }
}
