import GridClient
import GridCore
import Histogram
import ZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one connection measured of one operation (`mixed` has two: get and put).
struct BenchOperationResult: Sendable {
    /// Latencies of the replies received while measuring, in microseconds.
    var latencies = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
    /// Replies received while measuring, errors included.
    var ops = 0
    /// Replies other than 200 (and other than an expected 409) received while measuring.
    var errors = 0
}

/// What one connection measured, handed to the main thread when it finishes.
struct BenchConnectionResult: Sendable {
    /// Per operation of the workload, by `BenchRequest.kind`.
    var operations: [BenchOperationResult]
    /// Replies received while measuring, errors included.
    var ops = 0
    /// Replies other than 200 received while measuring, plus requests lost to a timeout (in any phase);
    /// refusals the workload expects (409 for `trade` and `place`) are not errors.
    var errors = 0
    /// 409 refusals received while measuring, for workloads that expect them (counted in `ops`, not in `errors`).
    var refused = 0
    /// Requests still outstanding when the connection heard nothing for the timeout.
    var timeouts = 0
    /// Puts of the preload that did not answer 200, timeouts included.
    var preloadErrors = 0
    /// Whether any reply arrived on this connection (none at all: the grid is not there).
    var replied = false
    /// The first error this connection saw, as `404 not_found: ...`.
    var firstError: String?
    /// The ZeroMQ failure that ended the connection, if one did.
    var failure: String?
    /// Requests sent while measuring, for each of the keys 0 ..< `countedKeys` (the hottest keys of zipf).
    var keyHits: [Int]
    /// Requests sent while measuring, every key.
    var keysSent = 0

    /// How many of the first keys are counted one by one.
    static let countedKeys = 1_024

    init(operations: Int, keys: Int) {
        self.operations = Array(repeating: BenchOperationResult(), count: operations)
        keyHits = Array(repeating: 0, count: min(keys, Self.countedKeys))
    }
}

/// One connection's loop, on the thread that owns the connection.
///
/// Closed (no rate): keeps `depth` requests in flight and sends one more for
/// each reply; latency runs from the send. Open (a rate): sends on a fixed
/// schedule whatever the replies do, at most `depth` in flight; latency runs
/// from the intended send time, so a send held back by the depth limit (or by
/// a slow bench) still counts its wait (coordinated-omission correction).
///
/// Created, used and dropped on one `Thread`; never touched by another.
final class BenchLoop {
    /// How long one wait for a reply lasts before the loop looks at the phase and the timeout again.
    static let sliceMilliseconds = 50
    /// The longest the loop waits for the last replies after the run stopped; they are not counted.
    static let drainMilliseconds = 1_000
    /// Open loop: the longest nap while the next send is due in less than a millisecond (zmq_poll
    /// counts in milliseconds); a reply waiting meanwhile is timestamped at most this late.
    static let napNanoseconds: UInt64 = 200_000

    /// A request in flight: when its latency starts (send or intended send time, monotonic ns) and its operation.
    private struct Pending {
        var start: UInt64
        var kind: Int
    }

    private let index: Int
    private let plan: BenchPlan
    private let board: BenchBoard
    private let connection: any PipelinedConnection
    private var random: SplitMix64
    /// Requests in flight, by correlation id.
    private var inFlight: [UInt64: Pending]
    /// When the last reply arrived, or when the current wait began.
    private var lastHeard: UInt64 = 0
    private(set) var result: BenchConnectionResult
    /// Set when the connection gave up (timeout, ZeroMQ failure) and must not send again.
    private var gaveUp = false
    /// Requests of the run sent so far (builds unique keys such as `place`'s order ids).
    private var sequence = 0

    private init(index: Int, plan: BenchPlan, board: BenchBoard, connection: any PipelinedConnection) {
        self.index = index
        self.plan = plan
        self.board = board
        self.connection = connection
        // Seeds through one SplitMix64 step: seeding connection i with `seed + i * gamma` directly
        // would make its stream connection 0's shifted by i draws (SplitMix64 adds gamma per draw).
        var seeding = SplitMix64(seed: plan.seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        random = SplitMix64(seed: seeding.next())
        inFlight = Dictionary(minimumCapacity: plan.depth * 2)
        result = BenchConnectionResult(operations: plan.workload.operations.count, keys: plan.keys)
    }

    /// The body of connection `index`'s thread: connect, preload its share,
    /// meet the others at the start line, run the loop, report.
    static func run(index: Int, plan: BenchPlan, board: BenchBoard, context: Context) {
        let loop: BenchLoop
        do {
            let connection: any PipelinedConnection = plan.direct
                ? try DirectConnection(context: context, endpoint: plan.endpoint)
                : try GridConnection(context: context, endpoint: plan.endpoint)
            loop = BenchLoop(index: index, plan: plan, board: board, connection: connection)
        } catch {
            var result = BenchConnectionResult(operations: plan.workload.operations.count, keys: plan.keys)
            result.failure = "cannot connect to \(plan.endpoint): \(error)"
            board.arrive(index, result)
            board.waitForStart()
            board.finish(index, result)
            return
        }
        loop.guarded { () throws(ZMQError) in try loop.preload() }
        board.arrive(index, loop.result)
        board.waitForStart()
        if !loop.gaveUp, board.phase != .stop {
            if let rate = plan.rate {
                loop.guarded { () throws(ZMQError) in try loop.openLoop(ratePerConnection: rate / Double(plan.connections)) }
            } else {
                loop.guarded { () throws(ZMQError) in try loop.closedLoop() }
            }
        }
        loop.connection.close()
        board.finish(index, loop.result)
    }

    /// Runs `body`, turning a ZeroMQ failure into the connection's end.
    private func guarded(_ body: () throws(ZMQError) -> Void) {
        do {
            try body()
        } catch {
            result.failure = "\(error)"
            gaveUp = true
        }
    }

    // MARK: - Preload

    /// Stores this connection's share of the keys (`index`, `index + connections`, ...), pipelined.
    private func preload() throws(ZMQError) {
        guard let store = plan.workload.preload else { return }
        var next = index
        lastHeard = BenchClock.nanoseconds()
        while inFlight.count < plan.depth, next < plan.keys {
            try send(store(next), at: BenchClock.nanoseconds())
            next += plan.connections
        }
        while !inFlight.isEmpty {
            switch try waitForReply(stopWhen: { board.phase == .stop }) {
            case .reply(let correlation, let reply):
                guard inFlight.removeValue(forKey: correlation) != nil else { continue }
                result.replied = true
                board.preloaded.add(1, ordering: .relaxed)
                if reply.status != .ok {
                    result.preloadErrors += 1
                    noteError(reply)
                }
                guard board.phase != .stop else {
                    gaveUp = true
                    return
                }
                if next < plan.keys {
                    try send(store(next), at: BenchClock.nanoseconds())
                    next += plan.connections
                }
            case .stopped:
                gaveUp = true
                return
            case .timedOut:
                result.preloadErrors += inFlight.count
                giveUp()
                return
            }
        }
    }

    // MARK: - Closed loop

    /// Keeps `depth` requests in flight until the phase is `stop`; records only what completes while measuring.
    private func closedLoop() throws(ZMQError) {
        lastHeard = BenchClock.nanoseconds()
        while inFlight.count < plan.depth {
            try sendNext(at: BenchClock.nanoseconds())
        }
        running: while true {
            switch try waitForReply(stopWhen: { board.phase == .stop }) {
            case .reply(let correlation, let reply):
                guard let pending = inFlight.removeValue(forKey: correlation) else { continue }
                let now = BenchClock.nanoseconds()
                guard record(reply, pending, at: now) != .stop else { break running }
                try sendNext(at: now)
            case .stopped:
                break running
            case .timedOut:
                giveUp()
                return
            }
        }
        try drain()
    }

    // MARK: - Open loop

    /// Sends request k at its intended time `start + offset + k / rate` until the phase is `stop`,
    /// at most `depth` in flight; a request held back by the limit keeps its intended time.
    ///
    /// The connections' schedules are offset by a fraction of the interval each,
    /// so together they send evenly rather than in bursts of `connections`.
    private func openLoop(ratePerConnection: Double) throws(ZMQError) {
        let interval = 1e9 / ratePerConnection
        let start = BenchClock.nanoseconds()
        let offset = interval * Double(index) / Double(plan.connections)
        /// The intended send time of request `k`.
        func intended(_ k: Int) -> UInt64 { start + UInt64(offset + Double(k) * interval) }
        var scheduled = 0
        lastHeard = start
        running: while true {
            let now = BenchClock.nanoseconds()
            while inFlight.count < plan.depth, intended(scheduled) <= now {
                // The timeout counts from when the connection began waiting for something.
                if inFlight.isEmpty { lastHeard = now }
                try sendNext(at: intended(scheduled))
                scheduled += 1
            }
            // With room to send, wait for a reply or the next send; at the limit, for a reply.
            let due = inFlight.count < plan.depth ? intended(scheduled) : nil
            switch try waitForReply(orUntil: due) {
            case .reply(let correlation, let reply):
                guard let pending = inFlight.removeValue(forKey: correlation) else { continue }
                guard record(reply, pending, at: BenchClock.nanoseconds()) != .stop else { break running }
            case .due:
                continue
            case .stopped:
                break running
            case .timedOut:
                giveUp()
                return
            }
        }
        try drain()
    }

    private enum OpenWait {
        case reply(UInt64, GridReply)
        /// The next send is due.
        case due
        /// The phase is `stop`.
        case stopped
        /// Requests are in flight and nothing arrived for the client timeout.
        case timedOut
    }

    /// Waits for a reply, or until `due` (monotonic ns) when given.
    ///
    /// zmq_poll waits in whole milliseconds: within the last millisecond before
    /// `due` the loop looks at the socket without waiting and naps briefly, so
    /// neither a send nor a reply's timestamp is off by more than about a nap.
    private func waitForReply(orUntil due: UInt64?) throws(ZMQError) -> OpenWait {
        let timeout = UInt64(plan.timeoutMilliseconds) * 1_000_000
        while true {
            let now = BenchClock.nanoseconds()
            if let due, now >= due { return .due }
            let remaining = due.map { $0 - now } ?? .max
            let waitMilliseconds = remaining >= 1_000_000 ? min(Int(min(remaining / 1_000_000, 1_000_000)), Self.sliceMilliseconds, plan.timeoutMilliseconds) : 0
            if let (correlation, reply) = try connection.receive(timeoutMilliseconds: waitMilliseconds) {
                lastHeard = BenchClock.nanoseconds()
                return .reply(correlation, reply)
            }
            if waitMilliseconds == 0 { Self.nap(min(remaining, Self.napNanoseconds)) }
            if board.phase == .stop { return .stopped }
            if !inFlight.isEmpty, BenchClock.nanoseconds() &- lastHeard >= timeout { return .timedOut }
        }
    }

    private static func nap(_ nanoseconds: UInt64) {
        var request = timespec(tv_sec: 0, tv_nsec: Int(nanoseconds))
        nanosleep(&request, nil)
    }

    // MARK: - Both loops

    /// Counts a reply of the loop (only while measuring); returns the phase it arrived in.
    private func record(_ reply: GridReply, _ pending: Pending, at now: UInt64) -> BenchPhase {
        let tally = board.tallies[index]
        result.replied = true
        tally.replies.add(1, ordering: .relaxed)
        let succeeded = reply.status == .ok
        let refused = !succeeded && plan.workload.refusals && reply.status == .conflict
        if !succeeded, !refused { noteError(reply) }
        let phase = board.phase
        if phase == .measure {
            result.operations[pending.kind].latencies.record(now > pending.start ? (now - pending.start + 500) / 1_000 : 0)
            result.operations[pending.kind].ops += 1
            result.ops += 1
            if refused {
                result.refused += 1
                tally.refused.add(1, ordering: .relaxed)
            } else if !succeeded {
                result.operations[pending.kind].errors += 1
                result.errors += 1
                tally.errors.add(1, ordering: .relaxed)
            }
        }
        return phase
    }

    /// Sends one request of the workload for the next key of the distribution; its latency runs from `start`.
    private func sendNext(at start: UInt64) throws(ZMQError) {
        let key = plan.distribution.next(&random)
        if board.phase == .measure {
            result.keysSent += 1
            if key < result.keyHits.count { result.keyHits[key] += 1 }
        }
        let origin = BenchOrigin(connection: index, sequence: sequence)
        sequence += 1
        try send(plan.workload.request(key, &random, origin), at: start)
    }

    /// Waits a little for the replies still in flight, so the grid is quiet for the next run; counts nothing.
    private func drain() throws(ZMQError) {
        let deadline = BenchClock.nanoseconds() + UInt64(min(plan.timeoutMilliseconds, Self.drainMilliseconds)) * 1_000_000
        lastHeard = BenchClock.nanoseconds()
        while !inFlight.isEmpty {
            guard case .reply(let correlation, _) = try waitForReply(stopWhen: { BenchClock.nanoseconds() >= deadline }) else { return }
            inFlight.removeValue(forKey: correlation)
        }
    }

    // MARK: - Requests and replies

    private func send(_ request: BenchRequest, at start: UInt64) throws(ZMQError) {
        let correlation = try connection.send(plan.section, request.operation, key: request.key, arguments: request.arguments)
        inFlight[correlation] = Pending(start: start, kind: request.kind)
    }

    private enum Wait {
        case reply(UInt64, GridReply)
        /// `stopWhen` said so.
        case stopped
        /// Nothing arrived for the client timeout.
        case timedOut
    }

    /// Waits for the next reply in slices, looking at `stopWhen` and the timeout between them.
    private func waitForReply(stopWhen: () -> Bool) throws(ZMQError) -> Wait {
        let timeout = UInt64(plan.timeoutMilliseconds) * 1_000_000
        while true {
            if let (correlation, reply) = try connection.receive(timeoutMilliseconds: min(Self.sliceMilliseconds, plan.timeoutMilliseconds)) {
                lastHeard = BenchClock.nanoseconds()
                return .reply(correlation, reply)
            }
            if stopWhen() { return .stopped }
            if BenchClock.nanoseconds() &- lastHeard >= timeout { return .timedOut }
        }
    }

    /// Counts every request in flight as lost and stops the connection: it heard nothing for the timeout.
    private func giveUp() {
        let lost = inFlight.count
        result.timeouts += lost
        result.errors += lost
        board.tallies[index].errors.add(lost, ordering: .relaxed)
        if result.firstError == nil {
            result.firstError = "\(Status.timeout.rawValue) timeout: no reply within \(plan.timeoutMilliseconds) ms (\(lost) requests in flight)"
        }
        inFlight.removeAll()
        gaveUp = true
    }

    private func noteError(_ reply: GridReply) {
        guard result.firstError == nil else { return }
        result.firstError = reply.error?.description ?? "\(reply.status.rawValue)"
    }
}

/// The monotonic clock in nanoseconds (GridClient's `monotonicMilliseconds` is too coarse for latencies).
enum BenchClock {
    static func nanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
