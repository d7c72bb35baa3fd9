import ArgumentParser
import Foundation
import GridRuntime
import ZeroMQ

struct MirrorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirror",
        abstract: "Run the write-behind mirror: writes every change of the grid to the topology's database.",
        discussion: """
            Usually started by `spacegrid up` when the topology has a `database:` section. \
            On SIGINT or SIGTERM it writes what it still holds, then stops.
            """)

    @OptionGroup var options: ProcessOptions

    @Option(help: "The broker's client endpoint (default: the topology's).") var broker: String?

    func run() throws {
        let topology = try options.loadTopology()
        guard let config = topology.database, let database = try options.database(of: topology) else {
            FileHandle.standardError.write(Data("spacegrid: error: the topology names no database (add a `database:` section)\n".utf8))
            throw ExitCode(2)
        }
        let logger = options.logger(label: "spacegrid.mirror")
        ProcessSignals.install()
        let security = try options.security(of: topology, server: false, clientKeys: ["mirror", "grid"], logger: logger)
        defer { security.stop() }
        let context = security.context
        var notStored = 0
        do {
            let mirror = try Mirror(
                configuration: .init(broker: broker ?? topology.broker.clients, sections: topology.sections.map(\.name),
                                     maximumBatch: config.batch, maximumDelayMilliseconds: config.maxDelayMilliseconds,
                                     database: database.summary),
                context: context, logger: logger, open: database.open)
            try mirror.run(until: .forProcess())
            notStored = mirror.changesNotStored
        } catch {
            logger.critical("mirror failed: \(error)")
            throw ExitCode(1)
        }
        // Said by the exit status too: `spacegrid up` reports it when the grid stops.
        if notStored > 0 { throw ExitCode(DeploymentManager.exitChangesNotStored) }
    }
}
