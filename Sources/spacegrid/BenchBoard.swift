import Dispatch
import Synchronization
import ZeroMQ

/// Everything a run needs to know, shared read-only by every connection.
struct BenchPlan: Sendable {
    var workload: BenchWorkload
    var section: String
    var endpoint: String
    var connections: Int
    var depth: Int
    /// How many distinct keys: for `trade` and `place`, the accounts "0" ... "N-1".
    var keys: Int
    /// `trade`, `place`: the products P0 ... P(M-1) they pick from; nil for the other workloads.
    var products: Int? = nil
    var valueSize: Int
    var warmupSeconds: Double
    var durationSeconds: Double
    var timeoutMilliseconds: Int
    /// Seeds the connections' key generators (connection i uses a seed derived from it and i).
    var seed: UInt64
    /// How key numbers are picked (for `trade` and `place`: accounts).
    var distribution: BenchKeyDistribution
    /// The total offered rate of the open loop, in requests per second; nil for the closed loop.
    var rate: Double? = nil
    /// `mixed`: the percentage of gets; nil for the other workloads.
    var readPercent: Int? = nil
    /// `--direct`: partition-aware connections that send straight to the primaries' units.
    var direct = false
    /// `--threads`: the driver threads the connections are spread over; nil for the default.
    var threads: Int? = nil
    /// CURVE: who the connections are (nil: no security).
    var curve: CurveIdentity? = nil

    /// Driver threads when `--threads` is not given (fewer when there are fewer connections).
    static let defaultThreads = 2

    /// How many driver threads run the connections: `--threads` (default 2), at most one per
    /// connection (direct connections too: their sockets are polled together).
    var driverThreads: Int {
        min(threads ?? Self.defaultThreads, connections)
    }

    /// The connections driver thread `thread` runs: every `driverThreads`-th from `thread`, so
    /// each thread's open-loop schedules are spread evenly over the interval.
    func connections(ofThread thread: Int) -> [Int] {
        Array(stride(from: thread, to: connections, by: driverThreads))
    }

    /// The same run against another endpoint (the relay), without the preload.
    func against(_ endpoint: String) -> BenchPlan {
        var plan = self
        plan.endpoint = endpoint
        plan.workload = workload.withoutPreload
        plan.threads = driverThreads  // as many driver threads as the grid's run
        plan.direct = false  // the relay is one endpoint, like a broker
        return plan
    }
}

/// Where a run is. The main thread moves it forward; connections read it at every reply and wake-up.
enum BenchPhase: Int, Sendable {
    /// Connections store the keys the workload reads.
    case preload
    /// The loop runs; nothing is recorded.
    case warmup
    /// The loop runs and every reply is recorded.
    case measure
    /// Connections stop sending, drain briefly and report.
    case stop
}

/// One connection's live counters: written by its driver thread, read by the progress line.
final class BenchTally: Sendable {
    /// Replies in any phase of the closed loop.
    let replies = Atomic<Int>(0)
    /// Errors while measuring, and requests lost to a timeout.
    let errors = Atomic<Int>(0)
    /// Refusals (409) while measuring, for workloads that expect them.
    let refused = Atomic<Int>(0)
}

/// What the driver threads and the main thread share: the phase, live
/// counters, the start line every connection waits at after its preload, and
/// the results each connection hands over.
final class BenchBoard: Sendable {
    let tallies: [BenchTally]
    /// Preload puts answered so far, over all connections.
    let preloaded = Atomic<Int>(0)

    private let connections: Int
    private let phaseValue = Atomic<Int>(BenchPhase.preload.rawValue)
    private let startLine = DispatchSemaphore(value: 0)
    /// What each connection had when it reached the start line (its preload), by index.
    private let arrivals: Mutex<[BenchConnectionResult?]>
    /// What each connection measured, by index, once it finished.
    private let results: Mutex<[BenchConnectionResult?]>

    init(connections: Int) {
        self.connections = connections
        tallies = (0..<connections).map { _ in BenchTally() }
        arrivals = Mutex(Array(repeating: nil, count: connections))
        results = Mutex(Array(repeating: nil, count: connections))
    }

    // MARK: - Phase

    var phase: BenchPhase { BenchPhase(rawValue: phaseValue.load(ordering: .relaxed)) ?? .stop }

    func enter(_ phase: BenchPhase) { phaseValue.store(phase.rawValue, ordering: .relaxed) }

    // MARK: - Start line (driver threads)

    /// Connection `index` finished its preload (or failed before it) with `result` so far.
    func arrive(_ index: Int, _ result: BenchConnectionResult) {
        arrivals.withLock { $0[index] = result }
    }

    /// Blocks a driver thread (never a concurrency pool thread) until `openStartLine()`;
    /// `connections` is how many connections the thread runs (each has its place at the line).
    func waitForStart(_ connections: Int = 1) {
        for _ in 0..<connections { startLine.wait() }
    }

    /// Connection `index` is done; its socket is closed.
    func finish(_ index: Int, _ result: BenchConnectionResult) {
        results.withLock { $0[index] = result }
    }

    // MARK: - Main thread

    /// Lets every connection past the start line, into the current phase.
    func openStartLine() {
        for _ in 0..<connections { startLine.signal() }
    }

    var arrivedCount: Int { arrivals.withLock { $0.count(where: { $0 != nil }) } }
    var finishedCount: Int { results.withLock { $0.count(where: { $0 != nil }) } }

    /// The connections' states at the start line; call once `arrivedCount` is complete.
    var arrivedResults: [BenchConnectionResult] { arrivals.withLock { $0.compactMap { $0 } } }
    /// The connections' results; call once `finishedCount` is complete.
    var finishedResults: [BenchConnectionResult] { results.withLock { $0.compactMap { $0 } } }

    /// Replies so far, over all connections.
    var replies: Int { tallies.reduce(0) { $0 + $1.replies.load(ordering: .relaxed) } }
    /// Errors so far, over all connections.
    var errors: Int { tallies.reduce(0) { $0 + $1.errors.load(ordering: .relaxed) } }
    /// Refusals so far, over all connections.
    var refused: Int { tallies.reduce(0) { $0 + $1.refused.load(ordering: .relaxed) } }
}
