import Foundation
import GridCore
import GridClient
import GridStore

/// The mirror's database side: one thread that owns the store and does what
/// the mirror's loop asks, one job at a time, in order.
///
/// Why a thread of its own: a database call blocks for as long as the database
/// takes (an fsync, a server that went away, a connect timeout), and the mirror's
/// loop must keep reading the replication stream, repairing gaps and reporting
/// meanwhile. The loop hands jobs over and collects results without blocking.
final class MirrorWriter: @unchecked Sendable {
    enum Job: Sendable {
        /// Read the stored watermarks of these sections (the mirror's start).
        case watermarks([String])
        case commit(section: String, WriteBehindBuffer.Batch)
        /// Mark these partitions sealed where the database holds them up to these sequences.
        case seal(section: String, partitions: [Int: UInt64])
    }

    enum Outcome: Sendable {
        case watermarks([String: [Int: StoredWatermark]])
        case committed(section: String, batch: WriteBehindBuffer.Batch, milliseconds: UInt64)
        case sealed(section: String, partitions: Set<Int>)
        case failed(Job, StoreError)
    }

    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var outcomes: [Outcome] = []
    private var stopping = false
    private var running = true
    /// Opens the store on the writer's thread (again after a failure: a reconnect).
    private let open: @Sendable () throws(StoreError) -> any WriteBehindStore

    init(open: @escaping @Sendable () throws(StoreError) -> any WriteBehindStore) {
        self.open = open
        let thread = Thread { [self] in run() }
        thread.name = "mirror-writer"
        thread.start()
    }

    func submit(_ job: Job) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// What finished since the last call (never blocks).
    func takeOutcomes() -> [Outcome] {
        condition.lock()
        defer { condition.unlock() }
        let taken = outcomes
        outcomes.removeAll()
        return taken
    }

    /// Jobs submitted and not yet finished.
    var busy: Bool {
        condition.lock()
        defer { condition.unlock() }
        return !jobs.isEmpty || current
    }

    private var current = false

    /// Finishes the job under way, drops the rest, and ends the thread (waits up to `timeoutSeconds`).
    func stop(timeoutSeconds: Double) {
        condition.lock()
        stopping = true
        jobs.removeAll()
        condition.broadcast()
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while running && condition.wait(until: deadline) {}
        condition.unlock()
    }

    private func run() {
        var store: (any WriteBehindStore)?
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if stopping {
                running = false
                condition.broadcast()
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            current = true
            condition.unlock()

            let outcome: Outcome
            do {
                if store == nil { store = try open() }
                outcome = try perform(job, on: store!)
            } catch {
                // Reopen next time: the connection (or file) may be what failed.
                if error.code == .unreachable { store = nil }
                outcome = .failed(job, error)
            }
            condition.lock()
            current = false
            outcomes.append(outcome)
            condition.unlock()
        }
    }

    private func perform(_ job: Job, on store: any WriteBehindStore) throws(StoreError) -> Outcome {
        switch job {
        case .watermarks(let sections):
            var result: [String: [Int: StoredWatermark]] = [:]
            for section in sections { result[section] = try store.watermarks(section: section) }
            return .watermarks(result)
        case .commit(let section, let batch):
            let start = monotonicMilliseconds()
            try store.commit(batch, section: section)
            return .committed(section: section, batch: batch, milliseconds: monotonicMilliseconds() - start)
        case .seal(let section, let partitions):
            return .sealed(section: section, partitions: try store.seal(section: section, partitions: partitions))
        }
    }
}
