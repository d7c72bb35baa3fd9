import ArgumentParser
import Foundation

struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Print the broker's metrics in Prometheus' text format.",
        discussion: "The same figures the broker answers to `grid metrics`. Exits 3 when the grid does not answer.")

    @OptionGroup var client: ClientOptions

    func run() throws {
        let reply = try OneRequest.run(client, "grid", "metrics", key: "-", arguments: [])
        let text = reply.text
        print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
    }
}
