import ArgumentParser
import GridClient

/// Which grid a client command talks to.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The broker's client endpoint (default: $SPACEGRID_BROKER, else tcp://127.0.0.1:5570).",
        valueName: "endpoint"))
    var broker: String?

    @Option(name: .long, help: "Milliseconds to wait for a reply.")
    var timeout: Int = 5_000

    /// The endpoint to use: the flag, the environment, or the default topology's.
    var endpoint: String {
        broker ?? GridConnection.environmentEndpoint ?? GridConnection.defaultEndpoint
    }

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }
}
