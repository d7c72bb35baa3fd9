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

/// One connection's loop, as a state machine a driver thread runs (`BenchDriver`,
/// which owns the connection's sockets and waits for many connections at once).
///
/// Closed (no rate): keeps `depth` requests in flight and sends one more for
/// each reply; latency runs from the send. Open (a rate): sends on a fixed
/// schedule whatever the replies do, at most `depth` in flight; latency runs
/// from the intended send time, so a send held back by the depth limit (or by
/// a slow bench) still counts its wait (coordinated-omission correction).
///
/// The driver hands it every reply (`onReply`), lets it send what is due
/// (`sendDue`; `nextDue` says when to wake for the next send) and, after every
/// wake-up, lets it look at the phase and its timeout (`onTick`). It never
/// waits itself. Created, used and dropped on its driver's `Thread`; never
/// touched by another.
final class BenchLoop {
    /// How long one wait for a reply lasts before the driver looks at the phase and the timeouts again.
    static let sliceMilliseconds = 50
    /// The longest the loop waits for the last replies after the run stopped; they are not counted.
    static let drainMilliseconds = 1_000
    /// Open loop: the longest nap while the next send is due in less than a millisecond (zmq_poll
    /// counts in milliseconds); a reply waiting meanwhile is timestamped at most this late.
    static let napNanoseconds: UInt64 = 200_000

    /// Where the connection is.
    enum Stage: Equatable {
        /// Storing its share of the keys.
        case preloading
        /// Preloaded (or given up, or failed): waiting for the start line to open.
        case atStartLine
        /// The closed or the open loop runs.
        case running
        /// After the stop: waiting until the given time (monotonic ns) for the last replies, counting nothing.
        case draining(until: UInt64)
        /// Finished: it sends and counts nothing more; its sockets can be closed.
        case done
    }

    /// A request in flight: when its latency starts (send or intended send time, monotonic ns) and its operation.
    private struct Pending {
        var start: UInt64
        var kind: Int
    }

    /// The open loop's schedule: request k is due at `start + offset + k * interval` (ns).
    ///
    /// The connections' schedules are offset by a fraction of the interval each,
    /// so together they send evenly rather than in bursts of `connections`.
    private struct Schedule {
        var start: UInt64
        var offset: Double
        var interval: Double

        /// The intended send time of request `k`.
        func intended(_ k: Int) -> UInt64 { start + UInt64(offset + Double(k) * interval) }
    }

    let index: Int
    private let plan: BenchPlan
    private let board: BenchBoard
    private let connection: any PipelinedConnection
    private let timeout: UInt64
    private var random: SplitMix64
    /// Requests in flight, by correlation id.
    private var inFlight: [UInt64: Pending]
    /// When the last reply arrived, or when the current wait began.
    private var lastHeard: UInt64 = 0
    private(set) var result: BenchConnectionResult
    private(set) var stage = Stage.preloading
    /// Set when the connection gave up (timeout, ZeroMQ failure) and must not send again.
    private var gaveUp = false
    /// Requests of the run sent so far (builds unique keys such as `place`'s order ids).
    private var sequence = 0
    /// The next key of this connection's preload share.
    private var nextPreload: Int
    /// The open loop's schedule and how many of its requests were sent; nil in the closed loop.
    private var schedule: Schedule?
    private var scheduled = 0

    init(index: Int, plan: BenchPlan, board: BenchBoard, connection: any PipelinedConnection) {
        self.index = index
        self.plan = plan
        self.board = board
        self.connection = connection
        timeout = UInt64(plan.timeoutMilliseconds) * 1_000_000
        nextPreload = index
        // Seeds through one SplitMix64 step: seeding connection i with `seed + i * gamma` directly
        // would make its stream connection 0's shifted by i draws (SplitMix64 adds gamma per draw).
        var seeding = SplitMix64(seed: plan.seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        random = SplitMix64(seed: seeding.next())
        inFlight = Dictionary(minimumCapacity: plan.depth * 2)
        result = BenchConnectionResult(operations: plan.workload.operations.count, keys: plan.keys)
    }

    /// Whether the connection still needs its sockets: false once it gave up or is done.
    var wantsSockets: Bool { !gaveUp && stage != .done }

    /// The connection's ZeroMQ failure: it ends the connection (nothing in flight is counted).
    func fail(_ error: ZMQError) {
        if result.failure == nil { result.failure = "\(error)" }
        gaveUp = true
        switch stage {
        case .preloading: stage = .atStartLine
        case .running, .draining: stage = .done
        case .atStartLine, .done: break
        }
    }

    // MARK: - Preload

    /// Starts storing this connection's share of the keys (`index`, `index + connections`, ...),
    /// `depth` puts in flight; goes straight to the start line when there is nothing to store.
    func startPreload(at now: UInt64) throws(ZMQError) {
        guard stage == .preloading else { return }
        guard let store = plan.workload.preload else {
            stage = .atStartLine
            return
        }
        lastHeard = now
        while inFlight.count < plan.depth, nextPreload < plan.keys {
            try send(store(nextPreload), at: BenchClock.nanoseconds())
            nextPreload += plan.connections
        }
        if inFlight.isEmpty { stage = .atStartLine }
    }

    /// A reply of the preload: counts it and sends the next put of the share.
    private func onPreloadReply(_ correlation: UInt64, _ reply: GridReply) throws(ZMQError) {
        guard inFlight.removeValue(forKey: correlation) != nil, let store = plan.workload.preload else { return }
        result.replied = true
        board.preloaded.add(1, ordering: .relaxed)
        if reply.status != .ok {
            result.preloadErrors += 1
            noteError(reply)
        }
        guard board.phase != .stop else {
            gaveUp = true
            stage = .atStartLine
            return
        }
        if nextPreload < plan.keys {
            try send(store(nextPreload), at: BenchClock.nanoseconds())
            nextPreload += plan.connections
        }
        if inFlight.isEmpty { stage = .atStartLine }
    }

    // MARK: - The run

    /// The start line opened at `start`: begins the closed loop (`depth` requests at once) or the
    /// open loop's schedule; goes straight to `done` when the connection gave up or the run stopped.
    func startRun(at start: UInt64) throws(ZMQError) {
        guard stage == .atStartLine, !gaveUp, board.phase != .stop else {
            stage = .done
            return
        }
        stage = .running
        lastHeard = start
        if let rate = plan.rate {
            let interval = 1e9 / (rate / Double(plan.connections))
            schedule = Schedule(start: start, offset: interval * Double(index) / Double(plan.connections), interval: interval)
            try sendDue(now: BenchClock.nanoseconds())
        } else {
            while inFlight.count < plan.depth {
                try sendNext(at: BenchClock.nanoseconds())
            }
        }
    }

    /// Open loop: sends every request whose intended time has come, while fewer than `depth` are in
    /// flight; a request held back by the limit keeps its intended time. Nothing in the closed loop.
    func sendDue(now: UInt64) throws(ZMQError) {
        guard stage == .running, let schedule else { return }
        while inFlight.count < plan.depth, schedule.intended(scheduled) <= now {
            // The timeout counts from when the connection began waiting for something.
            if inFlight.isEmpty { lastHeard = now }
            try sendNext(at: schedule.intended(scheduled))
            scheduled += 1
        }
    }

    /// Open loop with room to send: when the next request is due (monotonic ns); nil when only a reply can move it on.
    var nextDue: UInt64? {
        guard stage == .running, let schedule, inFlight.count < plan.depth else { return nil }
        return schedule.intended(scheduled)
    }

    /// A reply that arrived at `now` (read just after it was received).
    ///
    /// Closed loop: counts it and sends one more request. Open loop: counts it.
    /// Either stops (and drains) when the reply came after the stop.
    func onReply(_ correlation: UInt64, _ reply: GridReply, at now: UInt64) throws(ZMQError) {
        lastHeard = now
        switch stage {
        case .preloading:
            try onPreloadReply(correlation, reply)
        case .running:
            guard let pending = inFlight.removeValue(forKey: correlation) else { return }
            guard record(reply, pending, at: now) != .stop else {
                beginDrain(at: now)
                return
            }
            if schedule == nil { try sendNext(at: now) }
        case .draining:
            inFlight.removeValue(forKey: correlation)
            if inFlight.isEmpty { stage = .done }
        case .atStartLine, .done:
            return
        }
    }

    /// After every wake-up of the driver: the stop, the timeout (nothing heard for
    /// `--timeout` with requests in flight: they are lost), the end of the drain.
    func onTick(now: UInt64, phase: BenchPhase) {
        switch stage {
        case .preloading:
            if phase == .stop {
                gaveUp = true
                stage = .atStartLine
            } else if now &- lastHeard >= timeout {
                result.preloadErrors += inFlight.count
                giveUp()
                stage = .atStartLine
            }
        case .running:
            if phase == .stop {
                beginDrain(at: now)
            } else if !inFlight.isEmpty, now &- lastHeard >= timeout {
                giveUp()
                stage = .done
            }
        case .draining(let deadline):
            if inFlight.isEmpty || now >= deadline || now &- lastHeard >= timeout { stage = .done }
        case .atStartLine, .done:
            return
        }
    }

    /// Waits a little for the replies still in flight, so the grid is quiet for the next run; counts nothing.
    private func beginDrain(at now: UInt64) {
        lastHeard = now
        stage = inFlight.isEmpty ? .done : .draining(until: now + UInt64(min(plan.timeoutMilliseconds, Self.drainMilliseconds)) * 1_000_000)
    }

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

    // MARK: - Requests and replies

    private func send(_ request: BenchRequest, at start: UInt64) throws(ZMQError) {
        let correlation = try connection.send(plan.section, request.operation, key: request.key, arguments: request.arguments, requestID: nil)
        inFlight[correlation] = Pending(start: start, kind: request.kind)
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
