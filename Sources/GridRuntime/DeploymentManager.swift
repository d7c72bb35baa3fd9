import GridClient
import GridTopology

#if canImport(Glibc)
import Glibc
#endif

/// The deployment manager (DESIGN.md section 8): starts the broker, every unit
/// of a topology and, when the topology names a database, the mirror, as child
/// processes; restarts whichever dies; and stops them all: units first (each
/// waits until the mirror stored what it led), then the broker, the mirror last.
///
/// One thread drives it: `start`, then `supervise` every tick, then `stop`.
public final class DeploymentManager {
    /// One supervised process.
    public struct Child: Sendable {
        public enum Kind: Sendable, Equatable {
            case broker
            case unit(section: String)
            case mirror
        }

        public let name: String
        public let kind: Kind
        public let arguments: [String]
        public let logPath: String
        public internal(set) var process: ChildProcess?
        public internal(set) var restarts = 0
        /// Stopped for good (scaled away): not restarted, and forgotten once it exited.
        public internal(set) var retiring = false
        var startedAt: UInt64 = 0
        var restartAt: UInt64?
    }

    /// What supervision saw; the caller prints it.
    public enum Event: Sendable, Equatable {
        case exited(name: String, exit: ChildProcess.Exit)
        case restarted(name: String, pid: pid_t, restarts: Int)
        case restartFailed(name: String, reason: String)
        /// A unit scaled away exited and is forgotten.
        case retired(name: String, exit: ChildProcess.Exit)
    }

    public let topology: Topology
    public let runFolder: String
    let executable: String
    let common: [String]
    public private(set) var children: [Child] = []
    private var stopping = false

    /// Where a grid keeps its logs and SQLite database unless told otherwise (relative to
    /// the working directory): `up` and the processes it starts must agree on it.
    public static func defaultRunFolder(grid: String) -> String { ".spacegrid/\(grid)" }

    /// - Parameters:
    ///   - topologyPath: the file the children read (they are started with it).
    ///   - executable: the `spacegrid` binary to start the children from.
    ///   - runFolder: where logs go (`<runFolder>/logs/<name>.log`); created if missing.
    ///   - only: the processes this manager runs, by name (`broker`, `mirror`, unit names), when
    ///     the grid spans hosts and each host runs its part; nil: the whole grid.
    public init(topology: Topology, topologyPath: String, executable: String, runFolder: String, logLevel: String, only: Set<String>? = nil) {
        self.topology = topology
        self.executable = executable
        self.runFolder = runFolder
        whole = only == nil
        let logs = runFolder + "/logs"
        let common = ["--topology", topologyPath, "--log-level", logLevel, "--run-folder", runFolder]
        self.common = common
        children.append(Child(name: "broker", kind: .broker, arguments: ["broker"] + common, logPath: logs + "/broker.log"))
        if topology.database != nil {
            children.append(Child(name: "mirror", kind: .mirror, arguments: ["mirror"] + common, logPath: logs + "/mirror.log"))
        }
        for section in topology.sections {
            for name in section.unitNames {
                children.append(unitChild(section: section.name, name: name))
            }
        }
        if let only {
            children.removeAll { !only.contains($0.name) }
            // Units named beyond the topology's counts (added by scaling) run too.
            for name in only.sorted() where !children.contains(where: { $0.name == name }) {
                if let section = Self.section(ofUnit: name, in: topology) { children.append(unitChild(section: section, name: name)) }
            }
        }
    }

    /// Whether this manager runs the whole grid (not one host's part of it).
    public let whole: Bool

    /// The section of a unit name `<section>-<number>`, when the topology has that section.
    public static func section(ofUnit name: String, in topology: Topology) -> String? {
        guard let dash = name.lastIndex(of: "-"), let number = Int(name[name.index(after: dash)...]), number >= 1,
              topology.section(named: String(name[..<dash])) != nil else { return nil }
        return String(name[..<dash])
    }

    private func unitChild(section: String, name: String) -> Child {
        Child(name: name, kind: .unit(section: section), arguments: ["unit", "--section", section, "--name", name] + common,
              logPath: runFolder + "/logs/\(name).log")
    }

    /// The units of `section` this manager runs (retiring ones included), by name.
    public func unitNames(section: String) -> [String] {
        children.filter { $0.kind == .unit(section: section) }.map(\.name)
    }

    /// Starts one more unit of `section` (scaling out).
    public func addUnit(section: String, name: String) throws(SpawnError) {
        guard !children.contains(where: { $0.name == name }) else { return }
        children.append(unitChild(section: section, name: name))
        try launch(children.count - 1)
    }

    /// Stops a unit for good (scaled in, after it handed off what it held): SIGTERM now,
    /// no restart, forgotten once it exited (`supervise` reports `retired`).
    public func retire(name: String) {
        guard let index = children.firstIndex(where: { $0.name == name }), !children[index].retiring else { return }
        children[index].retiring = true
        children[index].restartAt = nil
        children[index].process?.signal(SIGTERM)
    }

    /// Creates the run folder and starts the broker. Units start with `startUnits`,
    /// once the caller has seen this broker answer (not another grid's on the same port).
    public func startBroker() throws(SpawnError) {
        makeDirectories(runFolder + "/logs")
        for index in children.indices where children[index].kind == .broker {
            // A new grid starts at the topology's unit counts (a restarted broker reads the file).
            SectionScaleFile.remove(runFolder: runFolder)
            try launch(index)
        }
    }

    /// Starts every unit, and the mirror.
    public func startUnits() throws(SpawnError) {
        for index in children.indices where children[index].kind != .broker {
            try launch(index)
        }
    }

    /// The broker's process id while it runs.
    public var brokerPID: pid_t? { children.first { $0.kind == .broker }?.process?.pid }

    private func launch(_ index: Int) throws(SpawnError) {
        let environment = ["SPACEGRID_SUPERVISOR_PID": String(getpid())]
        children[index].process = try ChildProcess.spawn(
            executable: executable, arguments: children[index].arguments, environment: environment,
            logPath: children[index].logPath)
        children[index].startedAt = monotonicMilliseconds()
        children[index].restartAt = nil
    }

    /// Reaps children that ended and restarts them after a back-off
    /// (0.1 s doubling to 5 s while a child keeps dying within 10 s of its start).
    public func supervise(now: UInt64) -> [Event] {
        var events: [Event] = []
        for index in children.indices {
            if let process = children[index].process, let exit = process.poll() {
                children[index].process = nil
                guard !children[index].retiring else {
                    events.append(.retired(name: children[index].name, exit: exit))
                    continue
                }
                events.append(.exited(name: children[index].name, exit: exit))
                guard !stopping else { continue }
                let ranFor = now - min(now, children[index].startedAt)
                let failures = ranFor < 10_000 ? children[index].restarts : 0
                // A crash loop backs off. The broker's back-off stays short: nothing is routed
                // and no failure is detected while it is down.
                let ceiling = children[index].kind == .broker ? 1_000 : 5_000
                let delay = min(ceiling, 100 << min(failures, 6))
                children[index].restartAt = now + UInt64(delay)
            }
            if !stopping, !children[index].retiring, children[index].process == nil, let due = children[index].restartAt, now >= due {
                do {
                    try launch(index)
                    children[index].restarts += 1
                    events.append(.restarted(name: children[index].name, pid: children[index].process!.pid, restarts: children[index].restarts))
                } catch {
                    children[index].restartAt = now + 1_000
                    events.append(.restartFailed(name: children[index].name, reason: error.description))
                }
            }
        }
        children.removeAll { $0.retiring && $0.process == nil }
        return events
    }

    /// The processes still running.
    public var running: [Child] { children.filter { $0.process != nil } }

    /// How long a polite stop may take: units, then the broker, then the mirror.
    /// With a database, units wait for the mirror (up to 10 s) and the mirror writes
    /// what it still holds (up to 30 s); without one, 4 s in all.
    public var stopGraceMilliseconds: [UInt64] {
        topology.database == nil ? [3_000, 1_000, 0] : [12_000, 1_000, 32_000]
    }

    /// The exit status of a unit that stopped before the database held every change it
    /// led (it gave up waiting for the mirror), or of a mirror that stopped with changes it
    /// could not write: what is not in the database is lost to the next cold start.
    public static let exitChangesNotStored: Int32 = 3

    /// What a polite stop did.
    public struct StopReport: Sendable {
        /// Processes that exited by themselves.
        public var stopped = 0
        /// Processes still running after their group's grace, killed.
        public var killed = 0
        /// Units that exited with `exitChangesNotStored`.
        public var changesNotStored: [String] = []
        /// How the mirror ended: nil without one (or when it was not running), else its exit
        /// (`exitChangesNotStored`: it could not write everything it held) or `killed`.
        public var mirrorExit: ChildProcess.Exit?
        public var mirrorKilled = false
    }

    /// Stops units first, then the broker, then the mirror: SIGTERM, then SIGKILL for
    /// whatever of a group is left after its grace. `progress` is called about once a
    /// second while a group takes long.
    public func stop(progress: (String) -> Void = { _ in }) -> StopReport {
        stopping = true
        var report = StopReport()
        let groups: [[Int]] = [
            children.indices.filter { if case .unit = children[$0].kind { return true } else { return false } },
            children.indices.filter { children[$0].kind == .broker },
            children.indices.filter { children[$0].kind == .mirror },
        ]
        let names = ["units", "broker", "mirror"]
        for (groupIndex, group) in groups.enumerated() {
            for index in group { children[index].process?.signal(SIGTERM) }
            let groupStart = monotonicMilliseconds()
            let groupDeadline = groupStart + max(500, stopGraceMilliseconds[groupIndex])
            var lastProgress = groupStart
            while group.contains(where: { children[$0].process != nil }) && monotonicMilliseconds() < groupDeadline {
                for index in group {
                    if let process = children[index].process, let exit = process.poll() {
                        children[index].process = nil
                        report.stopped += 1
                        if exit == .code(Self.exitChangesNotStored), case .unit = children[index].kind {
                            report.changesNotStored.append(children[index].name)
                        }
                        if children[index].kind == .mirror { report.mirrorExit = exit }
                    }
                }
                usleep(20_000)
                let now = monotonicMilliseconds()
                if now - lastProgress >= 1_000 && group.contains(where: { children[$0].process != nil }) {
                    lastProgress = now
                    progress("waiting for the \(names[groupIndex]) to stop (\((now - groupStart) / 1000) s)")
                }
            }
            for index in group {
                guard let process = children[index].process else { continue }
                process.signal(SIGKILL)
                var status: Int32 = 0
                waitpid(process.pid, &status, 0)
                children[index].process = nil
                report.killed += 1
                if children[index].kind == .mirror { report.mirrorKilled = true }
            }
        }
        return report
    }

    private func makeDirectories(_ path: String) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            mkdir(current, 0o755)
        }
    }
}
