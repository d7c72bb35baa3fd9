import Foundation
import GridClient
import GridCore
import GridRuntime
import ZeroMQ

/// Why a run ended without a report.
enum BenchFailure: Error {
    /// The broker did not answer the first request.
    case unreachable(endpoint: String, timeoutMilliseconds: Int)
    /// The grid has no such section.
    case unknownSection(String, endpoint: String)
    /// A connection could not be opened or failed in ZeroMQ.
    case connection(String)
    /// Some puts of the preload did not succeed, so reads would miss.
    case preload(failed: Int, keys: Int, firstError: String?)
    /// SIGINT or SIGTERM arrived before anything was measured.
    case interrupted

    var message: String {
        switch self {
        case .unreachable(let endpoint, let timeout):
            "no reply from \(endpoint) within \(timeout) ms: is `spacegrid up` running?"
        case .unknownSection(let section, let endpoint):
            "the grid at \(endpoint) has no section '\(section)': choose one with --section (`spacegrid status` lists them)"
        case .connection(let reason):
            reason
        case .preload(let failed, let keys, let firstError):
            "preload failed: \(failed) of \(keys) puts did not succeed" + (firstError.map { " (first: \($0))" } ?? "")
        case .interrupted:
            "interrupted before the measurement began"
        }
    }

    /// 3 when the grid is not there (as for the other client commands), 130 for an interrupt, else 2.
    var exitCode: Int32 {
        switch self {
        case .unreachable: 3
        case .interrupted: 130
        case .unknownSection, .connection, .preload: 2
        }
    }
}

/// One benchmark run, driven from the main thread: checks the grid is there,
/// starts the driver threads (`BenchDriver`, a few connections each), moves
/// the phases forward (preload, warm-up, measure, stop), prints progress and
/// gathers the results.
///
/// With `relayWorkers`, the connections wait at the start line after their
/// preload while the same workload runs through a bare relay (`BenchRelay`)
/// with the same loop; then the grid is measured.
struct BenchRun {
    let plan: BenchPlan
    let progress: BenchProgress
    /// `--relay`: the echo workers behind the relay (0: as many as the section has units); nil: no relay run.
    var relayWorkers: Int? = nil

    /// How often the main thread looks at the clock, the signals and the connections.
    private static let tickMilliseconds = 20

    func execute() throws(BenchFailure) -> BenchReport {
        let context = Context(curve: plan.curve)
        try checkGrid(context)

        let board = BenchBoard(connections: plan.connections)
        startConnections(plan, board, context)

        // Every connection reaches the start line, preloaded or not; then
        // every path below opens it and waits for all of them to finish.
        waitForArrivals(plan, board)
        if let failure = failure(plan, atStart: board.arrivedResults) {
            stopAtStartLine(plan, board)
            throw failure
        }
        var relay: BenchRelayReport?
        if let relayWorkers {
            do {
                relay = try measureRelay(context, workers: relayWorkers)
            } catch {
                stopAtStartLine(plan, board)
                throw error
            }
        }
        let window = runLoop(plan, board, label: relay == nil ? "" : "grid: ")
        waitForConnections(plan, board)

        let results = board.finishedResults
        if let failure = results.lazy.compactMap(\.failure).first, !results.contains(where: \.replied) {
            throw .connection(failure)
        }
        if !results.contains(where: \.replied) {
            throw .unreachable(endpoint: plan.endpoint, timeoutMilliseconds: plan.timeoutMilliseconds)
        }
        guard let seconds = window.seconds else { throw .interrupted }
        var report = BenchReport(plan: plan, grid: BenchMeasurement(plan: plan, results: results, measuredSeconds: seconds, interrupted: window.interrupted))
        report.relay = relay
        let status = BenchMemory.status(context: context, endpoint: plan.endpoint, timeoutMilliseconds: plan.timeoutMilliseconds)
        report.memory = BenchMemory.measure(BenchMemory.processes(status))
        return report
    }

    /// Starts the driver threads of `plan`, each with its share of the connections;
    /// each connects them, preloads and waits at the start line.
    private func startConnections(_ plan: BenchPlan, _ board: BenchBoard, _ context: Context) {
        for thread in 0..<plan.driverThreads {
            let indices = plan.connections(ofThread: thread)
            let driver = Thread { BenchDriver.run(indices: indices, plan: plan, board: board, context: context) }
            driver.name = "spacegrid-bench-\(thread)"
            driver.start()
        }
    }

    /// Lets connections waiting at the start line go straight to `stop`, and waits for them.
    private func stopAtStartLine(_ plan: BenchPlan, _ board: BenchBoard) {
        board.enter(.stop)
        board.openStartLine()
        waitForConnections(plan, board)
    }

    // MARK: - The relay

    /// Runs the workload through a bare relay with the same connections, depth,
    /// rate, warm-up and duration, and echo replies sized from the grid's.
    private func measureRelay(_ context: Context, workers requested: Int) throws(BenchFailure) -> BenchRelayReport {
        var workers = requested
        if workers == 0 {
            let status = BenchMemory.status(context: context, endpoint: plan.endpoint, timeoutMilliseconds: plan.timeoutMilliseconds)
            workers = max(1, status?.sections.first { $0.name == plan.section }?.units.count ?? 1)
        }
        progress.show("relay: sizing the echo replies from \(BenchEchoReplies.sampleSize) requests to the grid")
        let replies = BenchEchoReplies.sample(plan: plan, context: context)
        let relay = try BenchRelay.start(workers: workers, replies: replies, capacity: plan.connections * plan.depth)
        defer { relay.stop() }
        progress.show("relay: \(workers) echo workers behind a ROUTER/ROUTER relay at \(relay.endpoint)")

        let relayPlan = plan.against(relay.endpoint)
        let board = BenchBoard(connections: relayPlan.connections)
        startConnections(relayPlan, board, context)
        waitForArrivals(relayPlan, board)
        if let failure = failure(relayPlan, atStart: board.arrivedResults) {
            stopAtStartLine(relayPlan, board)
            throw failure
        }
        let window = runLoop(relayPlan, board, label: "relay: ")
        waitForConnections(relayPlan, board)

        let results = board.finishedResults
        if !results.contains(where: \.replied) {
            throw .connection("nothing came back through the relay at \(relay.endpoint)" + (results.lazy.compactMap(\.failure).first.map { ": \($0)" } ?? ""))
        }
        guard let seconds = window.seconds, !window.interrupted else { throw .interrupted }
        var measurement = BenchMeasurement(plan: relayPlan, results: results, measuredSeconds: seconds, interrupted: false)
        if relay.dropped > 0, measurement.firstError == nil {
            measurement.firstError = "the relay dropped \(relay.dropped) messages (full queue or gone peer)"
        }
        return BenchRelayReport(measurement: measurement, workers: workers, replyBytes: replies.sizes)
    }

    // MARK: - Before the run

    /// One request first, so that a missing grid or section is named plainly:
    /// `mmi.service` answers 200 or 404 for the section.
    private func checkGrid(_ context: Context) throws(BenchFailure) {
        let reply: GridReply
        do {
            let connection = try GridConnection(context: context, endpoint: plan.endpoint)
            defer { connection.close() }
            reply = try connection.call("mmi.service", plan.section, key: "", timeoutMilliseconds: plan.timeoutMilliseconds)
        } catch {
            throw .connection("cannot connect to \(plan.endpoint): \(error)")
        }
        switch reply.status {
        case .timeout: throw .unreachable(endpoint: plan.endpoint, timeoutMilliseconds: plan.timeoutMilliseconds)
        case .notFound: throw .unknownSection(plan.section, endpoint: plan.endpoint)
        default: return
        }
    }

    /// Waits until every connection is at the start line, showing the preload's progress.
    private func waitForArrivals(_ plan: BenchPlan, _ board: BenchBoard) {
        let preloading = plan.workload.preload != nil
        let started = BenchClock.nanoseconds()
        var nextLine = started + 1_000_000_000
        defer { progress.endLine() }
        while board.arrivedCount < plan.connections {
            if ProcessSignals.pending != 0 { board.enter(.stop) }
            let now = BenchClock.nanoseconds()
            if preloading, board.phase != .stop, now >= nextLine {
                let done = board.preloaded.load(ordering: .relaxed)
                progress.show("preloading \(BenchFormat.grouped(plan.keys)) keys into \(plan.section): \(BenchFormat.grouped(done)) (\(done * 100 / plan.keys)%)")
                nextLine += 1_000_000_000
            }
            Self.pause()
        }
        let done = board.preloaded.load(ordering: .relaxed)
        if preloading, done == plan.keys {
            let seconds = Double(BenchClock.nanoseconds() - started) / 1e9
            let rate = seconds > 0 ? Double(done) / seconds : 0
            progress.show("preloaded \(BenchFormat.grouped(done)) keys into \(plan.section) in \(BenchFormat.fixed(seconds, 1)) s (\(BenchFormat.grouped(Int(rate))) puts/s)")
        }
    }

    /// Why the run cannot go on after the preload, if it cannot.
    private func failure(_ plan: BenchPlan, atStart arrivals: [BenchConnectionResult]) -> BenchFailure? {
        if ProcessSignals.pending != 0 { return .interrupted }
        if let failure = arrivals.lazy.compactMap(\.failure).first { return .connection(failure) }
        guard plan.workload.preload != nil else { return nil }
        if !arrivals.contains(where: \.replied) {
            return .unreachable(endpoint: plan.endpoint, timeoutMilliseconds: plan.timeoutMilliseconds)
        }
        let failed = arrivals.reduce(0) { $0 + $1.preloadErrors }
        guard failed == 0 else {
            return .preload(failed: failed, keys: plan.keys, firstError: arrivals.lazy.compactMap(\.firstError).first)
        }
        return nil
    }

    // MARK: - The run

    /// The measured window: its length (nil when it never began) and whether a signal cut it short.
    private struct Window {
        var seconds: Double?
        var interrupted: Bool
    }

    /// Opens the start line, warms up, measures, and stops the connections;
    /// progress lines start with `label`.
    private func runLoop(_ plan: BenchPlan, _ board: BenchBoard, label: String) -> Window {
        let second: UInt64 = 1_000_000_000
        let started = BenchClock.nanoseconds()
        let warmupEnd = started + UInt64(plan.warmupSeconds * 1e9)
        let duration = UInt64(plan.durationSeconds * 1e9)
        var measureStart: UInt64? = nil
        board.enter(plan.warmupSeconds > 0 ? .warmup : .measure)
        if plan.warmupSeconds <= 0 { measureStart = started }
        board.openStartLine()

        var nextLine = started + second
        var lastLine = (time: started, replies: 0)
        defer { progress.endLine() }
        while true {
            let now = BenchClock.nanoseconds()
            if measureStart == nil, now >= warmupEnd {
                board.enter(.measure)
                measureStart = now
            }
            let measured = measureStart.map { Double(now - $0) / 1e9 }
            if let start = measureStart, now >= start + duration {
                board.enter(.stop)
                return Window(seconds: measured, interrupted: false)
            }
            if ProcessSignals.pending != 0 {
                board.enter(.stop)
                return Window(seconds: measured, interrupted: true)
            }
            if board.finishedCount == plan.connections {
                // Every connection gave up (timeouts): nothing more will happen.
                board.enter(.stop)
                return Window(seconds: measured, interrupted: false)
            }
            if now >= nextLine {
                let replies = board.replies
                let rate = Double(replies - lastLine.replies) / (Double(now - lastLine.time) / 1e9)
                let elapsed = Double(now - started) / 1e9
                let phase = measureStart == nil ? " warm-up" : ""
                let refused = plan.workload.refusals ? ", \(BenchFormat.grouped(board.refused)) refused" : ""
                let offered = plan.rate.map { " (\(BenchFormat.grouped(Int($0.rounded()))) offered)" } ?? ""
                progress.show("\(label)[\(BenchFormat.fixed(elapsed, 0)) s\(phase)] \(BenchFormat.grouped(Int(rate))) ops/s\(offered), \(BenchFormat.grouped(board.errors)) errors\(refused)")
                lastLine = (now, replies)
                nextLine += second
            }
            // Wake up at the next phase change, not up to a tick after it.
            let nextChange = measureStart.map { $0 + duration } ?? warmupEnd
            Self.pause(nanoseconds: nextChange > now ? nextChange - now : 0)
        }
    }

    /// Waits until every connection has closed its socket and handed in its result.
    ///
    /// Bounded: a connection stops within one wait slice of the stop, plus the
    /// drain, or within the client timeout when the grid went silent.
    private func waitForConnections(_ plan: BenchPlan, _ board: BenchBoard) {
        while board.finishedCount < plan.connections { Self.pause() }
    }

    /// Sleeps one tick, or `nanoseconds` when that is shorter.
    private static func pause(nanoseconds: UInt64 = .max) {
        let tick = UInt64(tickMilliseconds) * 1_000_000
        Thread.sleep(forTimeInterval: Double(min(tick, nanoseconds)) / 1e9)
    }
}

/// The progress line on stderr: one line rewritten in place (`\r`) on a
/// terminal, one line per update otherwise (logs, pipes, CI).
/// Used by the main thread only.
final class BenchProgress {
    /// Whether stderr is a terminal (lines are rewritten in place).
    let isTerminal = isatty(2) != 0
    /// Whether a rewritten line is on the terminal without its newline yet.
    private var lineOpen = false

    func show(_ line: String) {
        if isTerminal {
            write("\r\(line)\u{1B}[K")
            lineOpen = true
        } else {
            write("\(line)\n")
        }
    }

    /// Ends the line being rewritten, so what follows starts on a fresh line.
    func endLine() {
        guard lineOpen else { return }
        write("\n")
        lineOpen = false
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
