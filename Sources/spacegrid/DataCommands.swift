import ArgumentParser
import Foundation
import GridClient
import GridCore
import ZeroMQ

/// Runs one request against the grid and turns failures into exit codes:
/// 1 for a missing key, 2 for any other grid error, 3 when the grid is unreachable.
enum OneRequest {
    static func run(_ client: ClientOptions, _ section: String, _ operation: String, key: String, arguments: [[UInt8]],
                    requestID: String? = nil) throws -> GridReply {
        let context = try client.makeContext()
        let connection = try GridConnection(context: context, endpoint: client.endpoint)
        defer { connection.close() }
        // A request id of the caller's: the same id again is applied once (its first reply comes back).
        let id = requestID.map { RequestID(client: Array($0.utf8), sequence: 1) }
        let reply = try connection.call(section, operation, key: key, arguments: arguments, requestID: id, timeoutMilliseconds: client.timeout)
        guard let error = reply.error else { return reply }
        switch error.status {
        case .notFound:
            FileHandle.standardError.write(Data("spacegrid: \(error.message)\n".utf8))
            throw ExitCode(1)
        case .timeout:
            FileHandle.standardError.write(Data("spacegrid: error: timeout: no reply from \(client.endpoint) within \(client.timeout) ms (is `spacegrid up` running?)\n".utf8))
            throw ExitCode(3)
        default:
            FileHandle.standardError.write(Data("spacegrid: error: \(error.status.rawValue) \(error.code): \(error.message)\n".utf8))
            throw ExitCode(error.status == .unavailable ? 3 : 2)
        }
    }

    /// Checks a `--request-id`: 1 to 64 bytes.
    static func validate(requestID: String?) throws {
        guard let requestID else { return }
        guard (1...RequestID.maximumClientBytes).contains(requestID.utf8.count) else {
            throw ValidationError("--request-id must be 1 to \(RequestID.maximumClientBytes) bytes, got \(requestID.utf8.count)")
        }
    }

    /// A value argument, or standard input when it is `-`.
    static func value(_ argument: String) -> [UInt8] {
        if argument == "-" { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
        return Array(argument.utf8)
    }

    static func printJSON(_ object: [String: Any]) {
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
            print(String(decoding: data, as: UTF8.self))
        }
    }
}

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the value stored under a key.",
        discussion: "Exits 1 with a message on stderr when the key has no entry.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The section, such as customer.") var section: String
    @Argument(help: "The key.") var key: String
    @Flag(help: "Print {\"key\",\"value\",\"version\",\"unit\"} as JSON.") var json = false

    func run() throws {
        let reply = try OneRequest.run(client, section, "get", key: key, arguments: [])
        if json {
            OneRequest.printJSON(["section": section, "key": key, "value": reply.text, "version": reply.version, "unit": reply.unit])
        } else {
            print(reply.text)
        }
    }
}

struct Put: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Store a value under a key (JSON by convention).")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The section, such as customer.") var section: String
    @Argument(help: "The key.") var key: String
    @Argument(help: "The value; - reads it from standard input.") var value: String
    @Flag(help: "Print the result as JSON.") var json = false

    @Option(name: .customLong("request-id"), help: ArgumentHelp(
        "An id of yours for this request: sent again with the same id (a retry after a timeout), it is applied once.",
        valueName: "id"))
    var requestID: String?

    func validate() throws { try OneRequest.validate(requestID: requestID) }

    func run() throws {
        let reply = try OneRequest.run(client, section, "put", key: key, arguments: [OneRequest.value(value)], requestID: requestID)
        if json {
            OneRequest.printJSON(["section": section, "key": key, "version": reply.version, "unit": reply.unit])
        } else {
            print("stored \(section)/\(key) version \(reply.version) on \(reply.unit)")
        }
    }
}

struct Del: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete the entry under a key.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The section.") var section: String
    @Argument(help: "The key.") var key: String
    @Flag(help: "Print the result as JSON.") var json = false

    @Option(name: .customLong("request-id"), help: ArgumentHelp(
        "An id of yours for this request: sent again with the same id (a retry after a timeout), it is applied once.",
        valueName: "id"))
    var requestID: String?

    func validate() throws { try OneRequest.validate(requestID: requestID) }

    func run() throws {
        let reply = try OneRequest.run(client, section, "del", key: key, arguments: [], requestID: requestID)
        if json {
            OneRequest.printJSON(["section": section, "key": key, "version": reply.version, "unit": reply.unit])
        } else {
            print("deleted \(section)/\(key) at version \(reply.version) on \(reply.unit)")
        }
    }
}

struct Cas: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store a value only if the entry is at the given version.",
        discussion: "VERSION 0 means: only if the key has no entry. A mismatch exits 2 with version_conflict.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The section.") var section: String
    @Argument(help: "The key.") var key: String
    @Argument(help: "The version the entry must have (see `get --json`).") var version: UInt64
    @Argument(help: "The new value; - reads it from standard input.") var value: String
    @Flag(help: "Print the result as JSON.") var json = false

    @Option(name: .customLong("request-id"), help: ArgumentHelp(
        "An id of yours for this request: sent again with the same id (a retry after a timeout), it is applied once.",
        valueName: "id"))
    var requestID: String?

    func validate() throws { try OneRequest.validate(requestID: requestID) }

    func run() throws {
        let reply = try OneRequest.run(client, section, "cas", key: key, arguments: [Array(String(version).utf8), OneRequest.value(value)], requestID: requestID)
        if json {
            OneRequest.printJSON(["section": section, "key": key, "version": reply.version, "unit": reply.unit])
        } else {
            print("stored \(section)/\(key) version \(reply.version) on \(reply.unit)")
        }
    }
}
