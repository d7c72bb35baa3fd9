import ArgumentParser
import Foundation
import GridClient
import GridCore
import GridRuntime
import Synchronization
import ZeroMQ

// MARK: - One connection

/// One connection's pipelined load, on the thread that owns the connection:
/// keeps `depth` requests in flight, retries transient failures, gives up
/// when the grid stays silent.
///
/// Created, used and dropped on one `Thread`; never touched by another.
final class LoadWorker {
    private static let sliceMilliseconds = 50
    /// How often requests in flight are checked for a timeout.
    private static let sweepNanoseconds: UInt64 = 100_000_000
    /// The wait before retry n (1-based) is this times 2^(n-1): 100, 200, 400 ms.
    private static let backoffNanoseconds: UInt64 = 100_000_000

    private struct Pending {
        var item: Int
        var attempt: Int
        var sent: UInt64
    }

    private struct Retry {
        var item: Int
        var attempt: Int
        var due: UInt64
    }

    private let plan: LoadPlan
    private let board: LoadBoard
    private let connection: GridConnection
    private var inFlight: [UInt64: Pending]
    private var retries: [Retry] = []
    /// Whether the board has handed out every item.
    private var exhausted = false
    private var lastHeard: UInt64
    private var lastSweep: UInt64
    private let timeout: UInt64

    private init(plan: LoadPlan, board: LoadBoard, connection: GridConnection) {
        self.plan = plan
        self.board = board
        self.connection = connection
        inFlight = Dictionary(minimumCapacity: plan.depth * 2)
        lastHeard = BenchClock.nanoseconds()
        lastSweep = lastHeard
        timeout = UInt64(plan.timeoutMilliseconds) * 1_000_000
    }

    /// The body of a connection's thread.
    static func run(plan: LoadPlan, board: LoadBoard, context: Context) {
        defer { board.finished.add(1, ordering: .relaxed) }
        let worker: LoadWorker
        do {
            worker = LoadWorker(plan: plan, board: board, connection: try GridConnection(context: context, endpoint: plan.endpoint))
        } catch {
            board.noteFailure("cannot connect to \(plan.endpoint): \(error)")
            board.stopping.store(true, ordering: .relaxed)
            return
        }
        do {
            try worker.work()
        } catch {
            board.noteFailure("\(error)")
            board.stopping.store(true, ordering: .relaxed)
        }
        worker.connection.close()
    }

    private func work() throws(ZMQError) {
        while !board.stopping.load(ordering: .relaxed) {
            var now = BenchClock.nanoseconds()
            try fill(now)
            if inFlight.isEmpty {
                guard let due = retries.map(\.due).min() else { return }
                // Only retries waiting for their back-off: nothing is overdue meanwhile.
                lastHeard = now
                Thread.sleep(forTimeInterval: Double(min(due > now ? due - now : 0, UInt64(Self.sliceMilliseconds) * 1_000_000)) / 1e9)
                continue
            }
            if let (correlation, reply) = try connection.receive(timeoutMilliseconds: Self.sliceMilliseconds) {
                now = BenchClock.nanoseconds()
                lastHeard = now
                handle(correlation, reply, at: now)
                // Take whatever else has arrived before sending more.
                while let (correlation, reply) = try connection.receive(timeoutMilliseconds: 0) {
                    handle(correlation, reply, at: now)
                }
            }
            now = BenchClock.nanoseconds()
            if now &- lastSweep >= Self.sweepNanoseconds {
                sweep(now)
                lastSweep = now
            }
            if !inFlight.isEmpty, now &- lastHeard >= timeout &* UInt64(LoadPlan.maxRetries + 1) {
                board.silent.store(true, ordering: .relaxed)
                board.stopping.store(true, ordering: .relaxed)
                return
            }
        }
    }

    /// Sends due retries first, then new items, until `depth` are in flight.
    private func fill(_ now: UInt64) throws(ZMQError) {
        while inFlight.count < plan.depth {
            if !retries.isEmpty, let index = retries.firstIndex(where: { $0.due <= now }) {
                let retry = retries.remove(at: index)
                try send(retry.item, attempt: retry.attempt, at: now)
                continue
            }
            guard !exhausted else { return }
            guard let item = board.claim() else {
                exhausted = true
                return
            }
            try send(item, attempt: 0, at: now)
        }
    }

    private func send(_ item: Int, attempt: Int, at now: UInt64) throws(ZMQError) {
        let request = plan.request(item)
        let correlation = try connection.send(request.section, request.operation, key: request.key, arguments: request.arguments)
        inFlight[correlation] = Pending(item: item, attempt: attempt, sent: now)
    }

    private func handle(_ correlation: UInt64, _ reply: GridReply, at now: UInt64) {
        // A late reply to a request already timed out (and sent again): ignored.
        guard let pending = inFlight.removeValue(forKey: correlation) else { return }
        board.replied.store(true, ordering: .relaxed)
        if reply.status == .ok {
            if pending.item < plan.accounts {
                board.storedAccounts.add(1, ordering: .relaxed)
            } else {
                board.storedProducts.add(1, ordering: .relaxed)
            }
        } else {
            failed(pending, reply.status, reply.error?.description ?? "\(reply.status.rawValue)", at: now)
        }
    }

    /// Requests with no reply for the timeout fail with a timeout (and are usually sent again).
    private func sweep(_ now: UInt64) {
        let expired = inFlight.filter { now &- $0.value.sent >= timeout }
        for (correlation, pending) in expired {
            inFlight.removeValue(forKey: correlation)
            failed(pending, .timeout, "\(Status.timeout.rawValue) timeout: no reply within \(plan.timeoutMilliseconds) ms", at: now)
        }
    }

    private func failed(_ pending: Pending, _ status: Status, _ description: String, at now: UInt64) {
        if Self.isTransient(status), pending.attempt < LoadPlan.maxRetries {
            let attempt = pending.attempt + 1
            retries.append(Retry(item: pending.item, attempt: attempt, due: now + (Self.backoffNanoseconds << UInt64(attempt - 1))))
            board.retried.add(1, ordering: .relaxed)
            return
        }
        board.failed.add(1, ordering: .relaxed)
        let request = plan.request(pending.item)
        let what = "\(request.section) \(request.operation) \(String(decoding: request.key, as: UTF8.self))"
        let tries = pending.attempt > 0 ? " after \(pending.attempt + 1) tries" : ""
        board.noteError("\(what): \(description)\(tries)")
    }

    /// Failures another try may cure: no primary yet, a moved partition, a bug, silence.
    static func isTransient(_ status: Status) -> Bool {
        switch status {
        case .unavailable, .misdirected, .internalError, .timeout: true
        case .ok, .notFound, .badRequest, .conflict, .tooLarge, .notImplemented: false
        }
    }
}
