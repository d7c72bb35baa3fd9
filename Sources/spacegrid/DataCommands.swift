import ArgumentParser
import Foundation
import GridClient
import GridCore
import ZeroMQ

/// Runs one request against the grid and turns failures into exit codes:
/// 1 for a missing key, 2 for any other grid error, 3 when the grid is unreachable.
enum OneRequest {
    static func run(_ client: ClientOptions, _ section: String, _ operation: String, key: String, arguments: [[UInt8]]) throws -> GridReply {
        let context = Context()
        let connection = try GridConnection(context: context, endpoint: client.endpoint)
        defer { connection.close() }
        let reply = try connection.call(section, operation, key: key, arguments: arguments, timeoutMilliseconds: client.timeout)
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

    func run() throws {
        let reply = try OneRequest.run(client, section, "put", key: key, arguments: [OneRequest.value(value)])
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

    func run() throws {
        let reply = try OneRequest.run(client, section, "del", key: key, arguments: [])
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

    func run() throws {
        let reply = try OneRequest.run(client, section, "cas", key: key, arguments: [Array(String(version).utf8), OneRequest.value(value)])
        if json {
            OneRequest.printJSON(["section": section, "key": key, "version": reply.version, "unit": reply.unit])
        } else {
            print("stored \(section)/\(key) version \(reply.version) on \(reply.unit)")
        }
    }
}
