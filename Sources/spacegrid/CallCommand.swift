import ArgumentParser
import Foundation
import GridClient

struct Call: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run any operation of a section on the unit that owns the key, and print its reply.",
        discussion: """
            Examples:
              spacegrid call customer trade 100000 '{"amount":500,"stock":"AAPL"}'
              spacegrid call product set AAPL '{"price":18000,"stock":1000}'
              spacegrid call order place o-1001 '{"customer":"42","symbol":"AAPL","quantity":2}'
              spacegrid call order orders 42
              spacegrid call customer trade 42 '{"amount":500,"stock":"AAPL"}' --request-id trade-7f3a
            With --request-id, the same id again (a retry after a timeout) is applied once and
            answered with the first reply.
            An operation's error prints its status, code and message and exits 2 (1 for not_found).
            """)

    @OptionGroup var client: ClientOptions
    @Argument(help: "The section, such as customer.") var section: String
    @Argument(help: "The operation, such as trade.") var operation: String
    @Argument(help: "The key.") var key: String
    @Argument(help: "The arguments: a JSON object (- reads it from standard input).") var arguments: String?
    @Flag(help: "Print {\"status\",\"unit\",\"version\",\"reply\"} as JSON.") var json = false
    @Option(name: .customLong("request-id"), help: ArgumentHelp(
        "An id of yours for this request: sent again with the same id (a retry after a timeout), it is applied once.",
        valueName: "id"))
    var requestID: String?

    func validate() throws {
        try OneRequest.validate(requestID: requestID)
        if let arguments, arguments != "-" {
            guard (try? JSONSerialization.jsonObject(with: Data(arguments.utf8), options: [.fragmentsAllowed])) != nil else {
                throw ValidationError("the arguments are not valid JSON: \(arguments)")
            }
        }
    }

    func run() throws {
        let frames = arguments.map { [OneRequest.value($0)] } ?? []
        let reply = try OneRequest.run(client, section, operation, key: key, arguments: frames, requestID: requestID)
        if json {
            let parsed = (try? JSONSerialization.jsonObject(with: Data(reply.payload), options: [.fragmentsAllowed])) ?? reply.text
            OneRequest.printJSON(["status": Int(reply.status.rawValue), "unit": reply.unit, "version": reply.version, "reply": parsed])
        } else {
            print(reply.text)
        }
    }
}
