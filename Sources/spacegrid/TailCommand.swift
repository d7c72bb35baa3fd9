import ArgumentParser
import Foundation
import GridClient
import GridRuntime
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Follow the grid live: every change the primaries apply, and grid events (joins, deaths, failovers).",
        discussion: """
            One line per event until Ctrl-C:
              12:00:01.250  customer.17  e3 s42  put  key=42  v42  {"balance":100}
              12:00:02.004  grid  unit.dead  unit=customer-1 section=customer

            A `gap` line means changes were published but not received: PUB/SUB drops messages when a subscriber falls behind.

            The tail follows units that join or restart, so it keeps running through failovers. Exits 3 when the broker does not answer `grid status`.
            """)

    @OptionGroup var client: ClientOptions
    @Option(help: "Only this section.") var section: String?
    @Option(help: "Only this partition (of every section, unless --section is given).") var partition: Int?
    @Option(help: "Only this key (exact).") var key: String?
    @Flag(help: "Print one JSON object per line.") var json = false
    @Flag(help: "Leave grid events out; show only changes.") var changesOnly = false
    @Flag(help: "Also show invalidation events (section, key, version).") var invalidations = false

    func validate() throws {
        if let partition, partition < 0 { throw ValidationError("--partition must be 0 or more") }
        if let section, section.isEmpty { throw ValidationError("--section must not be empty") }
    }

    func run() throws {
        ProcessSignals.install()
        let filter = TailFilter(
            section: section, partition: partition, key: key.map { Array($0.utf8) },
            changesOnly: changesOnly, invalidations: invalidations)
        let context = try client.makeContext()
        let tail: GridTail
        do {
            tail = try GridTail(context: context, endpoint: client.endpoint, filter: filter, timeoutMilliseconds: client.timeout)
        } catch {
            FileHandle.standardError.write(Data("spacegrid: error: \(error.description)\n".utf8))
            switch error {
            case .unreachable, .zmq: throw ExitCode(3)
            case .refused(let refusal): throw ExitCode(refusal.status == .unavailable ? 3 : 2)
            case .unreadableStatus, .unknownSection, .noSuchPartition: throw ExitCode(2)
            }
        }
        defer { tail.close() }
        let units = tail.publishers.keys.sorted()
        FileHandle.standardError.write(Data(
            "spacegrid: tailing \(units.count) unit\(units.count == 1 ? "" : "s") (\(units.isEmpty ? "none yet" : units.joined(separator: ", "))) and grid events at \(tail.eventsEndpoint); Ctrl-C stops\n".utf8))
        var output = LineOutput()
        var lines = TailTextLines()
        while ProcessSignals.pending == 0 {
            let event: TailEvent?
            do {
                // Flush once a burst is written, then wait for the next event. Promotions of one
                // failover come over a few milliseconds: they are held back until it has passed.
                if let ready = try tail.next(timeoutMilliseconds: 0) {
                    event = ready
                } else if lines.isHolding, let ready = try tail.next(timeoutMilliseconds: 50) {
                    event = ready
                } else {
                    if !json { lines.flush().forEach { output.append($0) } }
                    guard output.flush() else { return }
                    event = try tail.next(timeoutMilliseconds: 200)
                }
            } catch {
                if case .zmq(let failure) = error, failure.isTerminated { break }
                FileHandle.standardError.write(Data("spacegrid: error: \(error.description)\n".utf8))
                throw ExitCode(1)
            }
            guard let event else { continue }
            if json {
                output.append(TailFormat.json(event))
            } else {
                lines.add(event).forEach { output.append($0) }
            }
            guard output.flushIfLarge() else { return }
        }
        if !json { lines.flush().forEach { output.append($0) } }
        _ = output.flush()
    }
}

/// Lines to standard output through one buffer, written with `write(2)`:
/// flushed after each burst (and at least every 100 ms in a steady stream), so a
/// reader on a pipe sees every line at once.
private struct LineOutput {
    private var buffer: [UInt8] = []
    private var flushedAt = monotonicMilliseconds()

    mutating func append(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(10)
    }

    /// Writes when the buffer is large or old; false when standard output is closed.
    mutating func flushIfLarge() -> Bool {
        buffer.count >= 64 * 1024 || monotonicMilliseconds() - flushedAt >= 100 ? flush() : true
    }

    /// Writes everything; false when standard output is closed (a reader went away).
    mutating func flush() -> Bool {
        var written = 0
        while written < buffer.count {
            let count = buffer[written...].withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                buffer.removeAll()
                return false
            }
            written += count
        }
        buffer.removeAll(keepingCapacity: true)
        flushedAt = monotonicMilliseconds()
        return true
    }
}
