import ArgumentParser
import Foundation
import GridClient
import GridRuntime
import ZeroMQ

/// Which grid a client command talks to.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The broker's client endpoint (default: $SPACEGRID_BROKER, else tcp://127.0.0.1:5570).",
        valueName: "endpoint"))
    var broker: String?

    @Option(name: .long, help: "Milliseconds to wait for a reply.")
    var timeout: Int = 5_000

    @Option(name: .long, help: ArgumentHelp(
        "A CURVE-secured grid: the folder with the grid's public key (grid.pub) and your key pair (default: $SPACEGRID_KEYS).",
        valueName: "folder"))
    var keyFolder: String?

    @Option(name: .long, help: ArgumentHelp("The name of your key pair in that folder (default: $SPACEGRID_KEY, else client).", valueName: "name"))
    var keyName: String?

    /// The CURVE identity to connect with: nil without `--keys` or `$SPACEGRID_KEYS`; exits 2
    /// when the keys cannot be read.
    func curveIdentity() throws -> CurveIdentity? {
        let environment = ProcessInfo.processInfo.environment
        guard let folderPath = keyFolder ?? environment["SPACEGRID_KEYS"].flatMap({ $0.isEmpty ? nil : $0 }) else { return nil }
        let name = keyName ?? environment["SPACEGRID_KEY"].flatMap { $0.isEmpty ? nil : $0 } ?? "client"
        let folder = KeyFolder(path: folderPath)
        do {
            return CurveIdentity(keys: try folder.keyPair(named: name), serverKey: try folder.publicKey(named: KeyFolder.serverKeyName))
        } catch {
            FileHandle.standardError.write(Data("spacegrid: error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// A context for this command's sockets: CURVE-secured when keys are given.
    func makeContext() throws -> Context {
        Context(curve: try curveIdentity())
    }

    /// The endpoint to use: the flag, the environment, or the default topology's.
    var endpoint: String {
        broker ?? GridConnection.environmentEndpoint ?? GridConnection.defaultEndpoint
    }

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }
}
