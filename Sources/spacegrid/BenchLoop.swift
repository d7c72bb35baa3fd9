import GridClient
import GridCore
import Histogram
import ZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one connection measured, handed to the main thread when it finishes.
struct BenchConnectionResult: Sendable {
    /// Latencies of the replies received while measuring, in microseconds.
    var latencies = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
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
}

/// One connection's closed loop, on the thread that owns the connection:
/// keeps `depth` requests in flight and sends one more for each reply.
///
/// Created, used and dropped on one `Thread`; never touched by another.
final class BenchLoop {
    /// How long one wait for a reply lasts before the loop looks at the phase and the timeout again.
    static let sliceMilliseconds = 50
    /// The longest the loop waits for the last replies after the run stopped; they are not counted.
    static let drainMilliseconds = 1_000

    private let index: Int
    private let plan: BenchPlan
    private let board: BenchBoard
    private let connection: GridConnection
    private var random: SplitMix64
    /// Send time (monotonic nanoseconds) of each request in flight, by correlation id.
    private var inFlight: [UInt64: UInt64]
    /// When the last reply arrived, or when the current wait began.
    private var lastHeard: UInt64 = 0
    private(set) var result = BenchConnectionResult()
    /// Set when the connection gave up (timeout, ZeroMQ failure) and must not send again.
    private var gaveUp = false
    /// Requests of the closed loop sent so far (builds unique keys such as `place`'s order ids).
    private var sequence = 0

    private init(index: Int, plan: BenchPlan, board: BenchBoard, connection: GridConnection) {
        self.index = index
        self.plan = plan
        self.board = board
        self.connection = connection
        random = SplitMix64(seed: plan.seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        inFlight = Dictionary(minimumCapacity: plan.depth * 2)
    }

    /// The body of connection `index`'s thread: connect, preload its share,
    /// meet the others at the start line, run the closed loop, report.
    static func run(index: Int, plan: BenchPlan, board: BenchBoard, context: Context) {
        let loop: BenchLoop
        do {
            loop = BenchLoop(index: index, plan: plan, board: board, connection: try GridConnection(context: context, endpoint: plan.endpoint))
        } catch {
            var result = BenchConnectionResult()
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
            loop.guarded { () throws(ZMQError) in try loop.closedLoop() }
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
        let tally = board.tallies[index]
        lastHeard = BenchClock.nanoseconds()
        while inFlight.count < plan.depth {
            try sendNext(at: BenchClock.nanoseconds())
        }
        running: while true {
            switch try waitForReply(stopWhen: { board.phase == .stop }) {
            case .reply(let correlation, let reply):
                guard let sent = inFlight.removeValue(forKey: correlation) else { continue }
                let now = BenchClock.nanoseconds()
                result.replied = true
                tally.replies.add(1, ordering: .relaxed)
                let succeeded = reply.status == .ok
                let refused = !succeeded && plan.workload.refusals && reply.status == .conflict
                if !succeeded, !refused { noteError(reply) }
                let phase = board.phase
                if phase == .measure {
                    result.latencies.record((now &- sent + 500) / 1_000)
                    result.ops += 1
                    if refused {
                        result.refused += 1
                        tally.refused.add(1, ordering: .relaxed)
                    } else if !succeeded {
                        result.errors += 1
                        tally.errors.add(1, ordering: .relaxed)
                    }
                }
                guard phase != .stop else { break running }
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

    /// Sends one request of the workload for a random key.
    private func sendNext(at now: UInt64) throws(ZMQError) {
        let key = random.below(plan.keys)
        let origin = BenchOrigin(connection: index, sequence: sequence)
        sequence += 1
        try send(plan.workload.request(key, &random, origin), at: now)
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

    private func send(_ request: BenchRequest, at now: UInt64) throws(ZMQError) {
        let correlation = try connection.send(plan.section, request.operation, key: request.key, arguments: request.arguments)
        inFlight[correlation] = now
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
