import Foundation
import GridClient
import XCTest
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A grid started with the real binary (`spacegrid up`) on free ports, for multi-process tests.
final class TestGrid {
    let folder: URL
    let endpoint: String
    let output: URL
    let topologyPath: URL
    private(set) var up: Process
    /// Whether the grid's topology names a database (its units then wait for the mirror on a stop).
    let hasDatabase: Bool

    /// Starts `spacegrid up` on a topology whose `sections:` block is `sections`,
    /// with a `database:` block when `database` is given.
    /// With `security` (the body of a `security:` block), the grid runs CurveZMQ.
    init(sections: String, heartbeat: String = "50ms", database: String? = nil, security: String? = nil) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("spacegrid-grid-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let (clients, units, events) = (freePort(), freePort(), freePort())
        endpoint = "tcp://127.0.0.1:\(clients)"
        hasDatabase = database != nil
        topologyPath = folder.appendingPathComponent("grid.yaml")
        try """
            grid: testgrid
            broker:
              clients: tcp://127.0.0.1:\(clients)
              units: tcp://127.0.0.1:\(units)
              events: tcp://127.0.0.1:\(events)
              heartbeat: \(heartbeat)
              liveness: 3
            \(database.map { "database:\n\($0)" } ?? "")
            \(security.map { "security:\n\($0)" } ?? "")
            sections:
            \(sections)
            """.write(to: topologyPath, atomically: true, encoding: .utf8)
        output = folder.appendingPathComponent("up.out")
        up = Process()
        try launch()
    }

    /// The run folder (`--run-folder`): logs, and the SQLite database by default.
    var runFolder: URL { folder.appendingPathComponent("run") }

    /// Starts `spacegrid up` (again, after `stop(keepFiles: true)`) and waits until it is ready.
    func launch() throws {
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        up = Process()
        up.executableURL = URL(fileURLWithPath: Spacegrid.executable)
        up.arguments = ["up", topologyPath.path, "--run-folder", runFolder.path]
        let handle = try FileHandle(forWritingTo: output)
        up.standardOutput = handle
        up.standardError = handle
        try up.run()
        let started = eventually(timeoutSeconds: 60) { self.log.contains("ready in") || !self.up.isRunning }
        guard started, up.isRunning else {
            throw TestGridError.notReady(log)
        }
    }

    enum TestGridError: Error { case notReady(String) }

    var log: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

    /// `up`'s output, the grid's status and the last lines of every process's log: what a
    /// failing multi-process test prints, since the folder is removed afterwards.
    var diagnostics: String {
        var text = log
        if let status = try? Spacegrid.run(["status", "--broker", endpoint], timeoutSeconds: 5) { text += "\n" + status.stdout }
        let logs = runFolder.appendingPathComponent("logs")
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? []).sorted() {
            let lines = ((try? String(contentsOf: logs.appendingPathComponent(name), encoding: .utf8)) ?? "").split(separator: "\n")
            text += "\n--- \(name) (last 15 of \(lines.count) lines)\n" + lines.suffix(15).joined(separator: "\n")
        }
        return text
    }

    /// The broker's `status --json`, parsed.
    func status() -> [String: Any]? {
        guard let result = try? Spacegrid.run(["status", "--json", "--broker", endpoint], timeoutSeconds: 10), result.status == 0 else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    }

    func sections(_ status: [String: Any]) -> [[String: Any]] { status["sections"] as? [[String: Any]] ?? [] }

    /// Live units by name: (pid, primaries, backups).
    func units() -> [String: (pid: Int32, primaries: Int, backups: Int)] {
        var result: [String: (Int32, Int, Int)] = [:]
        for section in sections(status() ?? [:]) {
            for unit in section["units"] as? [[String: Any]] ?? [] {
                guard let name = unit["name"] as? String, let pid = unit["pid"] as? Int else { continue }
                result[name] = (Int32(pid), unit["primaries"] as? Int ?? 0, unit["backups"] as? Int ?? 0)
            }
        }
        return result
    }

    /// Every partition has a primary and its full backups, each caught up (nothing behind).
    func isWhole(backups: Int) -> Bool {
        guard let status = status(), status["ready"] as? Bool == true else { return false }
        for section in sections(status) {
            for partition in section["partitions"] as? [[String: Any]] ?? [] {
                guard partition["primary"] is String, (partition["backups"] as? [String])?.count == backups,
                      (partition["behind"] as? Int ?? 1) == 0 else { return false }
            }
        }
        return true
    }

    func brokerPID() -> Int32? {
        (status()?["broker_pid"] as? Int).map { Int32($0) }
    }

    /// Stops the grid politely (SIGTERM to `up`, as Ctrl-C does); removes its files unless `keepFiles`.
    func stop(keepFiles: Bool = false) {
        if up.isRunning {
            kill(up.processIdentifier, SIGTERM)
            // With a database, units wait for the mirror and the mirror drains: up to 45 s in all.
            if !eventually(timeoutSeconds: hasDatabase ? 60 : 10, { !self.up.isRunning }) {
                kill(up.processIdentifier, SIGKILL)
            }
            up.waitUntilExit()
        }
        if !keepFiles { try? FileManager.default.removeItem(at: folder) }
    }
}

/// Writes a steady stream of puts over a fixed key set, pipelined, and remembers
/// the newest acknowledged value of each key: what must survive any failure.
/// A key is never written again while a write of it is in flight (a retried
/// older write could otherwise land after a newer one).
final class AcknowledgedWriter {
    let context = Context()
    /// Through the broker, or (`direct`) a partition-aware connection.
    let connection: any PipelinedConnection
    /// Reads back through the broker.
    let reader: GridConnection
    let section: String
    let keys: Int
    let depth: Int
    private var counter = 0
    /// The newest acknowledged counter per key, and when each ack arrived (ms, monotonic).
    private(set) var acknowledged: [String: Int] = [:]
    private(set) var ackTimes: [UInt64] = []
    /// When each key's newest acknowledgement arrived (ms, monotonic).
    private(set) var lastAcknowledgedAt: [String: UInt64] = [:]
    private var inFlight: [UInt64: (key: String, counter: Int, sentAt: UInt64)] = [:]
    private var keysInFlight: Set<String> = []
    private(set) var errors: [String] = []
    private(set) var timedOut = 0
    /// The slowest request so far (ms), and the slowest since `markKill()`.
    private(set) var slowest: UInt64 = 0
    private(set) var slowestAfterKill: UInt64 = 0
    private var killedAt: UInt64?

    init(endpoint: String, section: String, keys: Int = 500, depth: Int = 32, direct: Bool = false) throws {
        reader = try GridConnection(context: context, endpoint: endpoint)
        connection = direct ? try DirectConnection(context: context, endpoint: endpoint) : reader
        self.section = section
        self.keys = keys
        self.depth = depth
    }

    /// Starts measuring one failure: `slowestAfterKill` covers the requests completed from now on.
    func markKill() {
        killedAt = monotonicMilliseconds()
        slowestAfterKill = 0
    }

    /// Writes for `milliseconds`, keeping `depth` requests in flight.
    func run(milliseconds: UInt64) throws {
        let end = monotonicMilliseconds() + milliseconds
        while monotonicMilliseconds() < end {
            while inFlight.count < depth { try sendOne() }
            try receive(timeout: 50)
        }
    }

    /// Waits for the requests still in flight (up to `milliseconds`).
    func drain(milliseconds: UInt64 = 8_000) throws {
        let end = monotonicMilliseconds() + milliseconds
        while !inFlight.isEmpty && monotonicMilliseconds() < end { try receive(timeout: 50) }
        timedOut += inFlight.count
        inFlight.removeAll()
        keysInFlight.removeAll()
    }

    private func sendOne() throws {
        counter += 1
        while keysInFlight.contains("w\(counter % keys)") { counter += 1 }
        let key = "w\(counter % keys)"
        let id = try connection.send(section, "put", key: Array(key.utf8), arguments: [Array("\(counter)".utf8)], requestID: nil)
        inFlight[id] = (key, counter, monotonicMilliseconds())
        keysInFlight.insert(key)
    }

    private func receive(timeout: Int) throws {
        guard let (id, reply) = try connection.receive(timeoutMilliseconds: timeout) else {
            // Requests lost with a crashed broker never come back: give up on them after 5 s.
            let now = monotonicMilliseconds()
            for (id, request) in inFlight where now - request.sentAt > 5_000 {
                inFlight[id] = nil
                keysInFlight.remove(request.key)
                timedOut += 1
            }
            return
        }
        guard let request = inFlight.removeValue(forKey: id) else { return }
        keysInFlight.remove(request.key)
        let now = monotonicMilliseconds()
        let latency = now - request.sentAt
        slowest = max(slowest, latency)
        if let killedAt, request.sentAt + latency >= killedAt { slowestAfterKill = max(slowestAfterKill, latency) }
        if reply.status == .ok {
            acknowledged[request.key] = max(acknowledged[request.key] ?? 0, request.counter)
            lastAcknowledgedAt[request.key] = now
            ackTimes.append(now)
        } else if errors.count < 20 {
            errors.append("\(reply.status.rawValue) \(reply.text)")
        }
    }

    /// Keys whose read-back value is older than their newest acknowledged write.
    func lostWrites() throws -> [String] {
        var lost: [String] = []
        let deadline = monotonicMilliseconds() + 60_000
        for (key, counter) in acknowledged {
            guard monotonicMilliseconds() < deadline else {
                lost.append("gave up reading back after 60 s")
                break
            }
            let reply = try reader.call(section, "get", key: key, timeoutMilliseconds: 2_000)
            let value = Int(reply.text) ?? -1
            if reply.status != .ok || value < counter { lost.append("\(key): acked \(counter), read \(reply.status.rawValue) \(reply.text)") }
        }
        return lost.sorted()
    }
}
