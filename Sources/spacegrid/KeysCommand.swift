import ArgumentParser
import Foundation
import GridClient
import ZeroMQ

/// `spacegrid keys`: the CURVE key files of a secured grid (PROTOCOL.md 12).
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make the CURVE key files of a secured grid (`security: {mode: curve}`).",
        subcommands: [Generate.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new key pair: NAME.key (secret) and NAME.pub (public).",
            discussion: """
                `grid` is the servers' pair (the broker and every unit present it), `mirror` the \
                mirror's; any other name is a client's (`client` by default for the CLI). Every \
                NAME.pub in the folder is allowed to connect.
                """)

        @Argument(help: "The key's name: grid, mirror, client, or one per user or application.") var name: String

        @Option(help: ArgumentHelp("The key folder (the topology's security: keys).", valueName: "folder")) var dir = "keys"

        @Flag(help: "Replace an existing key pair of that name.") var force = false

        func run() throws {
            do {
                let pair = try CurveKeyPair.generate()
                try KeyFolder.write(pair, name: name, folder: dir, replacing: force)
            } catch let error as KeyFileError {
                FileHandle.standardError.write(Data("spacegrid: error: \(error)\n".utf8))
                throw ExitCode(2)
            }
            let folder = KeyFolder(path: dir)
            let secret = folder.file(name, ".key"), shared = folder.file(name, ".pub")
            let uses = name == KeyFolder.serverKeyName ? "the broker and units present it"
                : name == "mirror" ? "the mirror presents it" : "a client presents it with --key-name \(name)"
            print("""
                wrote \(secret) (secret, mode 0600: copy it only to the machines where \(uses))
                  and \(shared) (public: copy it to every machine of the grid; each server lets it in)
                """)
        }
    }
}
