import ArgumentParser
import Foundation
import GridClient
import GridRuntime
import GridTopology
import GridWire
import Logging
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

struct Up: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a grid from a topology: the broker and every unit, supervised.",
        discussion: """
            Waits until every partition has a primary, prints where clients connect, \
            restarts units that die, and stops everything on Ctrl-C or SIGTERM.
            """)

    @Argument(help: "The topology file.") var file: String = Defaults.topologyPath

    @Option(help: "Where logs go (default: .spacegrid/<grid>).") var runFolder: String?

    @Option(help: "Seconds to wait for the grid to become ready.") var readyTimeout: Double = 60

    @Option(help: "Log level of the broker and units.") var logLevel: String = "info"

    @Flag(help: "Run the broker here (a grid over several hosts: each host's `up` names its part).") var broker = false

    @Flag(help: "Run the write-behind mirror here.") var mirror = false

    @Option(help: ArgumentHelp("Run these units here, comma-separated (customer-1,product-1).", valueName: "names")) var units: String?

    /// The processes this host runs, by name; nil: the whole grid.
    private var selection: Set<String>? {
        guard broker || mirror || units != nil else { return nil }
        var names: Set<String> = []
        if broker { names.insert("broker") }
        if mirror { names.insert("mirror") }
        for name in (units ?? "").split(separator: ",") { names.insert(name.trimmingCharacters(in: .whitespaces)) }
        return names
    }

    /// Checks `--units` and `--mirror` against the topology; exits 2 with what it has.
    private func checkSelection(_ topology: Topology) throws {
        guard let selection else { return }
        let unknown = selection.subtracting(["broker", "mirror"]).filter { DeploymentManager.section(ofUnit: $0, in: topology) == nil }
        if !unknown.isEmpty || units?.split(separator: ",").isEmpty == true {
            say("error: --units names \(unknown.isEmpty ? "nothing" : unknown.sorted().joined(separator: ", ")), not units of this topology "
                + "(it has \(topology.unitNames.joined(separator: ", ")); a unit is <section>-<number>)")
            throw ExitCode(2)
        }
        if mirror && topology.database == nil {
            say("error: --mirror: the topology names no database, so the grid has no mirror")
            throw ExitCode(2)
        }
    }

    func run() throws {
        let path = TopologyPath.resolve(file)
        let topology: Topology
        do {
            topology = try Topology.load(path: path)
        } catch {
            FileHandle.standardError.write(Data("\(error.description)\n".utf8))
            throw ExitCode(2)
        }
        try checkSelection(topology)
        let folder = runFolder ?? DeploymentManager.defaultRunFolder(grid: topology.grid)
        // A database the children could not reach by its configuration (an unset URL
        // variable) is refused before anything starts, rather than by every child.
        if let config = topology.database {
            do {
                _ = try GridDatabase(config: config, grid: topology.grid, runFolder: folder)
            } catch {
                FileHandle.standardError.write(Data("spacegrid: error: \(error.description)\n".utf8))
                throw ExitCode(2)
            }
        }
        ProcessSignals.install()
        let started = monotonicMilliseconds()
        let manager = DeploymentManager(
            topology: topology, topologyPath: URL(fileURLWithPath: path).standardizedFileURL.path,
            executable: CommandLine.executablePath, runFolder: folder, logLevel: logLevel, only: selection)
        let unitCount = topology.sections.reduce(0) { $0 + $1.units }
        let security: GridSecurity
        do {
            // `up` asks the broker for its status: a client, with whatever pair this host holds.
            security = try GridSecurity(topology: topology, server: false, clientKeys: ["grid", "mirror", "client"], logger: Logger(label: "spacegrid.up"))
        } catch {
            say("error: \(error)")
            throw ExitCode(2)
        }
        defer { security.stop() }
        let context = security.context
        guard let connection = try? GridConnection(context: context, endpoint: topology.broker.clients) else {
            say("error: cannot open a client socket to \(topology.broker.clients)")
            throw ExitCode(1)
        }
        defer { connection.close() }
        guard manager.whole else {
            try runPart(manager, connection, folder: folder)
            return
        }
        say("starting grid '\(topology.grid)': broker and \(unitCount) units (logs in \(folder)/logs)")
        // The broker first, and units only once it answers as itself: with another
        // grid on the same ports, our units must not join (and disturb) that grid.
        try startInOrder(manager, connection, answered: { $0.brokerPid == manager.brokerPID },
                         failure: "the broker did not come up. See \(folder)/logs/broker.log")

        guard let status = waitFor(manager, connection, { $0.ready && $0.brokerPid == manager.brokerPID }) else {
            let report = manager.stop()
            say("grid did not become ready; stopped \(report.stopped + report.killed) processes. See \(folder)/logs/broker.log")
            throw ExitCode(1)
        }
        if topology.database != nil { waitForColdStart(manager, connection) }
        let partitions = status.sections.reduce(0) { $0 + $1.partitions.count }
        let seconds = Double(monotonicMilliseconds() - started) / 1000
        print("""
            grid '\(topology.grid)' ready in \(String(format: "%.1f", seconds)) s: \(status.sections.count) sections, \
            \(unitCount) units, \(partitions) partitions, every partition has a primary
              clients  \(topology.broker.clients)   (spacegrid --broker, or any MDP v0.1 client)
              units    \(topology.broker.units)
              events   \(topology.broker.events)
              logs     \(folder)/logs\(databaseLine(topology, folder))
            Press Ctrl-C to stop.
            """)
        fflush(nil)

        var liveness = BrokerLiveness(limitMilliseconds: BrokerLiveness.limit(
            heartbeatMilliseconds: topology.broker.heartbeatMilliseconds, liveness: topology.broker.liveness))
        var scaling = ScaleReconciler(topology: topology)
        var autoscaler = Autoscaler(topology: topology)
        while ProcessSignals.pending == 0 {
            supervise(manager)
            if let status = probe(&liveness, connection, manager) {
                for decision in autoscaler.observe(status, now: monotonicMilliseconds()) {
                    say("\(decision.section): \(decision.reason)")
                    _ = try? connection.send("grid", "scale", key: Array(decision.section.utf8),
                                             arguments: [Array(String(decision.units).utf8), Array(decision.reason.utf8)])
                }
                reconcile(&scaling, status, connection, manager)
            }
            usleep(50_000)
        }
        try stop(manager, folder: folder, what: "grid '\(topology.grid)'")
    }

    /// Starts the broker when this `up` runs it, waits until a status satisfies `answered`
    /// (our broker, not another grid's on the same port), then starts the rest; exits 1 with
    /// `failure` when that does not come.
    private func startInOrder(_ manager: DeploymentManager, _ connection: GridConnection, answered: (GridStatus) -> Bool,
                              failure: String) throws {
        do {
            try manager.startBroker()
            guard waitFor(manager, connection, answered) != nil else {
                let report = manager.stop()
                say("\(failure); stopped \(report.stopped + report.killed) processes")
                throw ExitCode(1)
            }
            try manager.startUnits()
        } catch let error as SpawnError {
            _ = manager.stop()
            say("error: \(error)")
            throw ExitCode(1)
        }
    }

    /// Restarts what died and says what happened.
    private func supervise(_ manager: DeploymentManager) {
        for event in manager.supervise(now: monotonicMilliseconds()) {
            switch event {
            case .exited(let name, let exit): say("\(name) exited (\(exit)); restarting")
            case .restarted(let name, let pid, let restarts): say("\(name) restarted as pid \(pid) (restart \(restarts))")
            case .restartFailed(let name, let reason): say("\(name) could not be restarted: \(reason)")
            case .retired(let name, let exit): say("\(name) stopped (\(exit)): scaled away")
            }
        }
    }

    /// Stops what this `up` runs, units first, and says whether anything acknowledged is
    /// missing from the database.
    private func stop(_ manager: DeploymentManager, folder: String, what: String) throws {
        say("stopping \(what)")
        let stopStarted = monotonicMilliseconds()
        let report = manager.stop(progress: say)
        let took = Double(monotonicMilliseconds() - stopStarted) / 1000
        say("stopped \(report.stopped) processes in \(String(format: "%.1f", took)) s\(report.killed > 0 ? ", killed \(report.killed) that did not stop in time" : "")")
        // Nothing acknowledged may vanish quietly: a stop that left changes out of the
        // database says so, and exits non-zero.
        let mirrorLeftChanges = report.mirrorKilled || report.mirrorExit == .code(DeploymentManager.exitChangesNotStored)
        if !report.changesNotStored.isEmpty {
            let after = mirrorLeftChanges ? "and the mirror stopped with changes it could not write"
                : "the mirror then wrote everything it had received"
            say("warning: \(report.changesNotStored.sorted().joined(separator: ", ")) gave up waiting for the database to store the "
                + "changes they led (their logs name the partitions); \(after). Changes missing from the database are lost to the next start.")
        } else if mirrorLeftChanges {
            say("warning: the mirror stopped with changes it could not write (see \(folder)/logs/mirror.log); they are lost to the next start.")
        }
        if !report.changesNotStored.isEmpty || mirrorLeftChanges { throw ExitCode(DeploymentManager.exitChangesNotStored) }
    }

    /// One host's part of a grid that spans hosts (`--broker`, `--mirror`, `--units`): starts
    /// the broker first when it is ours, else waits for the grid's broker to answer; starts the
    /// rest, waits until our units joined, and supervises them until Ctrl-C (the broker's host
    /// also replaces a paused broker). Scaling belongs to the whole grid's `up`.
    private func runPart(_ manager: DeploymentManager, _ connection: GridConnection, folder: String) throws {
        let topology = manager.topology
        let names = manager.children.map(\.name)
        say("starting part of grid '\(topology.grid)' on this host: \(names.joined(separator: ", ")) (logs in \(folder)/logs)")
        let started = monotonicMilliseconds()
        let ours = manager.children.contains { $0.kind == .broker }
        if !ours { say("waiting for the grid's broker at \(topology.broker.clients)") }
        try startInOrder(manager, connection, answered: { $0.grid == topology.grid && (!ours || $0.brokerPid == manager.brokerPID) },
                         failure: ours ? "the broker did not come up. See \(folder)/logs/broker.log"
                             : "no broker of grid '\(topology.grid)' answered at \(topology.broker.clients)")
        let unitNames = Set(manager.children.filter { if case .unit = $0.kind { return true } else { return false } }.map(\.name))
        // The broker's host waits for a whole table too; other hosts for their units only.
        let ownsBroker = ours
        guard waitFor(manager, connection, { status in
            unitNames.isSubset(of: Set(status.sections.flatMap(\.units).map(\.name))) && (!ownsBroker || status.ready)
        }) != nil else {
            let report = manager.stop()
            say("units did not join the grid; stopped \(report.stopped + report.killed) processes. See \(folder)/logs")
            throw ExitCode(1)
        }
        let seconds = Double(monotonicMilliseconds() - started) / 1000
        print("""
            part of grid '\(topology.grid)' ready in \(String(format: "%.1f", seconds)) s: \(names.joined(separator: ", ")) \
            \(ownsBroker ? "(every partition has a primary)" : "joined")
              broker   \(topology.broker.clients)
              logs     \(folder)/logs
            Press Ctrl-C to stop.
            """)
        fflush(nil)
        var liveness = BrokerLiveness(limitMilliseconds: BrokerLiveness.limit(
            heartbeatMilliseconds: topology.broker.heartbeatMilliseconds, liveness: topology.broker.liveness))
        while ProcessSignals.pending == 0 {
            supervise(manager)
            // A paused or wedged broker of ours is replaced, as on one machine.
            if ownsBroker { _ = probe(&liveness, connection, manager) }
            usleep(50_000)
        }
        try stop(manager, folder: folder, what: "part of grid '\(topology.grid)'")
    }

    /// Asks the broker `grid status` once a second, without waiting, and returns the status
    /// when one came; kills the broker (`up` then restarts it) when it has not answered for
    /// the limit: paused or wedged.
    private func probe(_ liveness: inout BrokerLiveness, _ connection: GridConnection, _ manager: DeploymentManager) -> GridStatus? {
        let now = monotonicMilliseconds()
        liveness.observe(pid: manager.brokerPID, now: now)
        var latest: GridStatus?
        while let (_, reply) = try? connection.receive(timeoutMilliseconds: 0) {
            liveness.answered(now: now)
            if reply.status == .ok, let status = GridStatus(decoding: reply.payload) { latest = status }
        }
        // The summary: units and moves without the partition list (this runs every second).
        if liveness.shouldAsk(now: now), (try? connection.send("grid", "status", key: Array("-".utf8), arguments: [Array("summary".utf8)])) != nil {
            liveness.asked(now: now)
        }
        if let pid = liveness.unresponsive(now: now) {
            say("broker (pid \(pid)) has not answered for \(liveness.limitMilliseconds / 1000) s (paused or wedged): killing it")
            kill(pid, SIGKILL)
            liveness.observe(pid: nil, now: now)
        }
        return latest?.brokerPid == manager.brokerPID ? latest : nil
    }

    /// Starts the units `grid scale` asked for and stops the ones the broker drained.
    private func reconcile(_ scaling: inout ScaleReconciler, _ status: GridStatus, _ connection: GridConnection, _ manager: DeploymentManager) {
        var running: [String: [String]] = [:]
        for section in manager.topology.sections {
            running[section.name] = manager.children.filter { $0.kind == .unit(section: section.name) && !$0.retiring }.map(\.name)
        }
        for action in scaling.reconcile(status, running: running) {
            switch action {
            case .start(let section, let name):
                do {
                    try manager.addUnit(section: section, name: name)
                    say("\(name) started: section '\(section)' scaled to \(scaling.desired[section] ?? 0) units")
                } catch {
                    say("\(name) could not be started: \(error)")
                }
            case .retire(let section, let name):
                say("\(name) handed off everything it held: stopping it (section '\(section)' scaled to \(scaling.desired[section] ?? 0) units)")
                manager.retire(name: name)
            case .tellBroker(let section, let units):
                _ = try? connection.send("grid", "scale", key: Array(section.utf8), arguments: [Array(String(units).utf8)])
            }
        }
    }

    /// Polls `grid status` until `condition` holds; nil on timeout, on a signal, or when the broker exits.
    private func waitFor(_ manager: DeploymentManager, _ connection: GridConnection, _ condition: (GridStatus) -> Bool) -> GridStatus? {
        let deadline = monotonicMilliseconds() + UInt64(readyTimeout * 1000)
        while monotonicMilliseconds() < deadline && ProcessSignals.pending == 0 {
            for event in manager.supervise(now: monotonicMilliseconds()) {
                guard case .exited(let name, let exit) = event else { continue }
                say("\(name) exited (\(exit)) while starting")
                if name == "broker" {
                    // Nothing can join without a broker (a port in use, say): show why and give up.
                    let log = (try? String(contentsOfFile: "\(manager.runFolder)/logs/broker.log", encoding: .utf8)) ?? ""
                    for line in log.split(separator: "\n").suffix(3) { say("  broker.log: \(line)") }
                    return nil
                }
            }
            if let reply = try? connection.call("grid", "status", key: "-", timeoutMilliseconds: 500),
               reply.status == .ok, let status = GridStatus(decoding: reply.payload), condition(status) {
                return status
            }
            usleep(50_000)
        }
        return nil
    }

    /// Units that were given partitions they hold nothing of load them from the database
    /// before serving them: shows that load until no unit reports one (twice in a row,
    /// since a unit reports its load a moment after the table is placed).
    private func waitForColdStart(_ manager: DeploymentManager, _ connection: GridConnection) {
        let started = monotonicMilliseconds()
        let deadline = started + UInt64(readyTimeout * 1000)
        var quiet = 0
        var lastShown: UInt64 = 0
        var showed = false
        while quiet < 2 && monotonicMilliseconds() < deadline && ProcessSignals.pending == 0 {
            _ = manager.supervise(now: monotonicMilliseconds())
            usleep(200_000)
            guard let reply = try? connection.call("grid", "status", key: "-", timeoutMilliseconds: 500),
                  reply.status == .ok, let status = GridStatus(decoding: reply.payload) else { continue }
            let loading = status.sections.flatMap(\.units).compactMap(\.loading)
            guard !loading.isEmpty else {
                quiet += 1
                continue
            }
            quiet = 0
            let now = monotonicMilliseconds()
            if now - lastShown >= 1_000 || !showed {
                lastShown = now
                showed = true
                say("cold start: \(loading.reduce(0, +).formatted()) entries loaded from the database (\(loading.count) units loading)")
            }
        }
        if showed {
            say("cold start: done in \(String(format: "%.1f", Double(monotonicMilliseconds() - started) / 1000)) s")
        }
    }

    private func databaseLine(_ topology: Topology, _ folder: String) -> String {
        guard let config = topology.database else { return "" }
        let place = config.backend == .sqlite ? "sqlite " + config.sqlitePath(grid: topology.grid, runFolder: folder) : config.summary
        return "\n  database \(place)   (written behind by the mirror; spacegrid status shows its backlog)"
    }

    private func say(_ text: String) {
        print("spacegrid: \(text)")
        fflush(nil)
    }
}
