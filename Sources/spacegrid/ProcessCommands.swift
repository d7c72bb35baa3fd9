import ArgumentParser
import TradingSections
import Foundation
import GridRuntime
import GridTopology
import Logging
import ZeroMQ

/// Options shared by the long-running processes.
struct ProcessOptions: ParsableArguments {
    @Option(name: .long, help: "The topology file.")
    var topology: String = Defaults.topologyPath

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = ProcessInfo.processInfo.environment["SPACEGRID_LOG_LEVEL"] ?? "info"

    @Option(name: .long, help: "The grid's run folder, where the SQLite database lives (default: .spacegrid/<grid>).")
    var runFolder: String?

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    /// Loads the topology, printing every problem and exiting 2 when it is broken.
    func loadTopology() throws -> Topology {
        do {
            return try Topology.load(path: TopologyPath.resolve(topology))
        } catch {
            FileHandle.standardError.write(Data("\(error.description)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// The topology's database, or nil when it names none; exits 2 when it cannot be resolved.
    func database(of topology: Topology) throws -> GridDatabase? {
        guard let config = topology.database else { return nil }
        do {
            return try GridDatabase(config: config, grid: topology.grid, runFolder: runFolder ?? DeploymentManager.defaultRunFolder(grid: topology.grid))
        } catch {
            FileHandle.standardError.write(Data("spacegrid: error: \(error.description)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// The process's security (a plain context without the topology's `security`); exits 2
    /// when its keys cannot be read.
    func security(of topology: Topology, server: Bool, clientKeys: [String] = [], logger: Logger) throws -> GridSecurity {
        do {
            return try GridSecurity(topology: topology, server: server, clientKeys: clientKeys, logger: logger)
        } catch {
            logger.critical("cannot secure the grid's sockets: \(error)")
            FileHandle.standardError.write(Data("spacegrid: error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    func logger(label: String) -> Logger {
        LogSetup.bootstrap(level: Logger.Level(rawValue: logLevel) ?? .info)
        return Logger(label: label)
    }
}

struct BrokerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run the messaging grid: routes client requests to the units that own the keys.",
        discussion: "Usually started by `spacegrid up`. Stops on SIGINT or SIGTERM.")

    @OptionGroup var options: ProcessOptions

    func run() throws {
        let topology = try options.loadTopology()
        let logger = options.logger(label: "spacegrid.broker")
        ProcessSignals.install()
        let security = try options.security(of: topology, server: true, logger: logger)
        defer { security.stop() }
        let context = security.context
        let generation: UInt64
        let runFolder = options.runFolder ?? DeploymentManager.defaultRunFolder(grid: topology.grid)
        do {
            generation = try BrokerGeneration.next(runFolder: runFolder)
        } catch {
            logger.critical("broker cannot start: \(error)")
            throw ExitCode(1)
        }
        do {
            let broker = try Broker(topology: topology, context: context, logger: logger, generation: generation, runFolder: runFolder)
            broker.refusedKeys = security.refusedKeys
            try broker.run(until: .forProcess())
        } catch {
            logger.critical("broker failed: \(error)")
            throw ExitCode(1)
        }
        logger.info("broker stopped")
    }
}

struct UnitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unit",
        abstract: "Run a processing unit: holds partitions of one section in memory and serves them.",
        discussion: "Usually started by `spacegrid up`. Stops on SIGINT or SIGTERM.")

    @OptionGroup var options: ProcessOptions

    @Option(help: "The section this unit serves.") var section: String
    @Option(help: "The unit's unique name, such as customer-1.") var name: String
    @Option(help: "The broker's unit endpoint (default: the topology's).") var broker: String?
    @Option(help: ArgumentHelp("The address the unit binds (default: its host's address in the topology, else 127.0.0.1; 0.0.0.0 for every interface).",
                               valueName: "address")) var bind: String?
    @Option(help: ArgumentHelp("The address peers and clients connect to (default: the bound one; required with --bind 0.0.0.0 unless the topology places the unit).",
                               valueName: "address")) var advertise: String?
    @Option(help: ArgumentHelp("Fixed ports: changes on PORT, replication on PORT+1, direct requests on PORT+2 (default: chosen by the system).",
                               valueName: "port")) var port: Int?

    func validate() throws {
        if let port, !(1...65_533).contains(port) { throw ValidationError("--port must be from 1 to 65533 (the unit uses it and the next two), got \(port)") }
        for (flag, value) in [("--bind", bind), ("--advertise", advertise)] {
            guard let value else { continue }
            guard !value.isEmpty, !value.contains("/"), !value.contains(" "), value.filter({ $0 == ":" }).count == 0 else {
                throw ValidationError("\(flag) takes an address such as 10.0.0.5, without scheme or port, got '\(value)'")
            }
        }
        if let advertise, ["0.0.0.0", "*"].contains(advertise) {
            throw ValidationError("--advertise must be an address others can connect to, not '\(advertise)'")
        }
    }

    func run() throws {
        let topology = try options.loadTopology()
        guard let sectionConfig = topology.section(named: section) else {
            FileHandle.standardError.write(Data("spacegrid: error: the topology has no section '\(section)' (it has \(topology.sections.map(\.name).joined(separator: ", ")))\n".utf8))
            throw ExitCode(2)
        }
        let placed = topology.host(ofUnit: name)
        let bindAddress = bind == "*" ? "0.0.0.0" : bind ?? placed?.address ?? "127.0.0.1"
        let advertised = advertise ?? (bindAddress == "0.0.0.0" ? placed?.address : nil)
        if bindAddress == "0.0.0.0" && advertised == nil {
            FileHandle.standardError.write(Data("spacegrid: error: a unit bound to every interface (--bind 0.0.0.0) needs --advertise ADDRESS: nobody can connect to 0.0.0.0\n".utf8))
            throw ExitCode(2)
        }
        let logger = options.logger(label: "spacegrid.unit")
        let database = try options.database(of: topology)
        ProcessSignals.install()
        let security = try options.security(of: topology, server: true, logger: logger)
        defer { security.stop() }
        let context = security.context
        var notStored = 0
        do {
            var configuration = ProcessingUnit.Configuration(
                section: section, name: name, broker: broker ?? topology.broker.units,
                heartbeatMilliseconds: topology.broker.heartbeatMilliseconds, liveness: topology.broker.liveness,
                mode: sectionConfig.mode, replicationIntervalMilliseconds: sectionConfig.replicationIntervalMilliseconds,
                host: bindAddress, partitionCount: sectionConfig.partitionCount,
                logic: SectionCatalog.section(named: section), clients: topology.broker.clients)
            configuration.advertise = advertised
            configuration.basePort = port
            configuration.hostName = placed?.name
            configuration.refusedKeys = security.refusedKeys
            configuration.database = database?.open
            configuration.partitioner = sectionConfig.partitioner
            configuration.maxMessageBytes = topology.broker.maxMessageBytes
            configuration.leaseMilliseconds = topology.broker.leaseMilliseconds
            let unit = try ProcessingUnit(configuration: configuration, context: context, logger: logger)
            try unit.run(until: .forProcess())
            notStored = unit.partitionsNotStored
        } catch {
            logger.critical("unit failed: \(error)")
            throw ExitCode(1)
        }
        if notStored > 0 {
            // Said by the exit status too: `spacegrid up` reports it when the grid stops.
            logger.error("unit stopped with changes the database does not hold", metadata: ["grid.unit": "\(name)", "partitions": "\(notStored)"])
            throw ExitCode(DeploymentManager.exitChangesNotStored)
        }
        logger.info("unit stopped", metadata: ["grid.unit": "\(name)"])
    }
}

/// Finds a topology file: as given, or for the default, next to the checkout the binary was built in.
enum TopologyPath {
    static func resolve(_ path: String) -> String {
        if FileManager.default.fileExists(atPath: path) || path.hasPrefix("/") { return path }
        // .build/debug/spacegrid -> the package root, so `spacegrid up` works from any folder.
        var folder = URL(fileURLWithPath: CommandLine.executablePath).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            folder = folder.deletingLastPathComponent()
            let candidate = folder.appendingPathComponent(path).path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        return path
    }
}

extension CommandLine {
    /// The running executable's absolute path (`/proc/self/exe` on Linux).
    static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
    }
}

/// Logging goes to standard error, bootstrapped once per process.
enum LogSetup {
    nonisolated(unsafe) private static var done = false

    static func bootstrap(level: Logger.Level) {
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
