import ArgumentParser

/// `spacegrid`: start a grid, talk to it, measure it.
@main
struct SpaceGrid: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spacegrid",
        abstract: "A space-based data grid on ZeroMQ: partitioned in-memory data, routed by a broker.",
        discussion: """
            Start the default grid with `spacegrid up`, then in another terminal:
              spacegrid put customer 42 '{"balance":100}'
              spacegrid get customer 42
              spacegrid status
            """,
        subcommands: [
            Up.self, Put.self, Get.self, Del.self, Cas.self, Call.self, StatusCommand.self, Bench.self,
            Validate.self, BrokerCommand.self, UnitCommand.self, MirrorCommand.self, Tail.self, Metrics.self, Load.self, ScaleCommand.self, Keys.self,
        ]
    )
}
