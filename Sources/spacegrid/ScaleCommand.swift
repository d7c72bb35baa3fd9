import ArgumentParser
import Foundation
import GridClient
import GridWire
import ZeroMQ

struct ScaleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Change how many units a section of a running grid has, rebalancing online.",
        discussion: """
            The broker drains the surplus units (the most recently added first) by moving \
            their partitions away while serving; `spacegrid up` starts the new units and \
            stops the drained ones. Waits until the section has its units and even \
            primaries, showing the moves under way (--no-wait to return at once).
            """)

    @OptionGroup var client: ClientOptions
    @Argument(help: "The section, for example customer.") var section: String
    @Argument(help: "How many units it should have (1 to 64).") var units: Int
    @Flag(help: "Return once the broker took the count, without waiting for the moves.") var noWait = false
    @Option(help: "Seconds to wait for the section to settle.") var waitTimeout: Double = 120
    @Flag(help: "Print the final section status as JSON.") var json = false

    func validate() throws {
        guard (1...64).contains(units) else { throw ValidationError("UNITS must be 1 to 64, got \(units)") }
        guard waitTimeout > 0 else { throw ValidationError("--wait-timeout must be positive") }
    }

    func run() throws {
        let started = monotonicMilliseconds()
        _ = try OneRequest.run(client, "grid", "scale", key: section, arguments: [Array(String(units).utf8)])
        if !json { say("section '\(section)' scaled to \(units) units") }
        guard !noWait else { return }
        let context = try client.makeContext()
        let connection = try GridConnection(context: context, endpoint: client.endpoint)
        defer { connection.close() }
        let deadline = started + UInt64(waitTimeout * 1000)
        var lastLine = ""
        var lastShown: UInt64 = 0
        var moved = 0
        var seenMoves: Set<String> = []
        while monotonicMilliseconds() < deadline {
            if let reply = try? connection.call("grid", "status", key: "-", timeoutMilliseconds: 1_000), reply.status == .ok,
               let status = GridStatus(decoding: reply.payload), let state = status.sections.first(where: { $0.name == section }) {
                for move in state.moves ?? [] { seenMoves.insert("\(move.partition)/\(move.kind)/\(move.from)/\(move.to)") }
                moved = seenMoves.count
                let settled = Self.settled(state, units: units)
                let line = Self.progress(state, units: units)
                let now = monotonicMilliseconds()
                if !json, (line != lastLine && now - lastShown >= 1_000) || now - lastShown >= 5_000 {
                    say(line)
                    lastLine = line
                    lastShown = now
                }
                if settled {
                    if json {
                        let data = (try? JSONEncoder().encode(state)) ?? Data()
                        print(String(decoding: data, as: UTF8.self))
                    } else {
                        let seconds = Double(monotonicMilliseconds() - started) / 1000
                        say("section '\(section)' settled in \(String(format: "%.1f", seconds)) s: \(state.units.count) units, about \(moved) moves")
                    }
                    return
                }
            }
            usleep(300_000)
        }
        FileHandle.standardError.write(Data("""
            spacegrid: error: section '\(section)' did not settle within \(Int(waitTimeout)) s (units are started and stopped \
            by `spacegrid up`: is this grid running under it?); `spacegrid status` shows where it stands\n
            """.utf8))
        throw ExitCode(1)
    }

    /// The section has exactly its units, none draining, no move under way, even primaries.
    static func settled(_ state: GridStatus.SectionStatus, units: Int) -> Bool {
        let draining = state.units.filter { $0.draining == true }.count
        return state.units.count == units && draining == 0 && (state.moves ?? []).isEmpty && state.orphans == 0 && state.skew <= 1
    }

    static func progress(_ state: GridStatus.SectionStatus, units: Int) -> String {
        let primaries = state.units.map { "\($0.name) \($0.primaries)\($0.draining == true ? " (draining)" : "")" }.joined(separator: ", ")
        let moves = state.moves ?? []
        var line = "\(state.units.count)/\(units) units; primaries: \(primaries)"
        if !moves.isEmpty {
            let shown = moves.prefix(3).map { "p\($0.partition) \($0.kind) \($0.from)->\($0.to) \($0.stage)" }.joined(separator: ", ")
            line += "; \(moves.count) moves under way (\(shown)\(moves.count > 3 ? ", ..." : ""))"
        }
        return line
    }

    private func say(_ text: String) {
        print("spacegrid: \(text)")
        fflush(nil)
    }
}
