/// An error reply: a stable code a program matches, and a message a person reads.
///
/// On the wire it is the payload of any non-200 reply, as the JSON object
/// `{"code":"...","message":"..."}` (PROTOCOL.md, "Error payloads").
public struct GridError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Status
    public var code: String
    public var message: String

    public init(_ status: Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status.rawValue) \(code): \(message)" }

    /// The JSON payload, encoded by hand so the hot path needs no Foundation.
    public var payload: [UInt8] {
        var out: [UInt8] = Array(#"{"code":"#.utf8)
        JSONText.appendString(code, to: &out)
        out.append(contentsOf: #","message":"#.utf8)
        JSONText.appendString(message, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Reads an error payload back; falls back to the raw text as the message.
    public init(status: Status, payload: [UInt8]) {
        self.status = status
        if let fields = JSONText.flatStringFields(payload), let code = fields["code"] {
            self.code = code
            self.message = fields["message"] ?? ""
        } else {
            self.code = "status_\(status.rawValue)"
            self.message = String(decoding: payload, as: UTF8.self)
        }
    }
}

// MARK: - Stable codes

extension GridError {
    public static func malformed(_ message: String) -> GridError { GridError(.badRequest, "malformed", message) }
    public static func unknownSection(_ name: String) -> GridError {
        GridError(.badRequest, "unknown_section", "no section named '\(name)' in this grid")
    }
    public static func unknownOperation(_ operation: String, section: String) -> GridError {
        GridError(.badRequest, "unknown_operation", "section '\(section)' has no operation '\(operation)'")
    }
    public static func badKey(_ message: String) -> GridError { GridError(.badRequest, "bad_key", message) }
    public static func badArguments(_ message: String) -> GridError { GridError(.badRequest, "bad_arguments", message) }
    public static func notFound(_ key: [UInt8]) -> GridError {
        GridError(.notFound, "not_found", "no entry for key '\(String(decoding: key, as: UTF8.self))'")
    }
    public static func versionConflict(expected: UInt64, actual: UInt64) -> GridError {
        GridError(.conflict, "version_conflict", "expected version \(expected), the entry is at version \(actual)")
    }
    public static func tooLarge(_ size: Int, limit: Int) -> GridError {
        GridError(.tooLarge, "too_large", "request of \(size) bytes exceeds max_message_bytes \(limit)")
    }
    public static func noPrimary(section: String, partition: Int) -> GridError {
        GridError(.unavailable, "no_primary", "partition \(partition) of section '\(section)' has no primary yet")
    }
    public static func staleEpoch(partition: Int, epoch: UInt64, current: UInt64?) -> GridError {
        let held = current.map { "epoch \($0)" } ?? "no lease"
        return GridError(.misdirected, "stale_epoch", "partition \(partition) at epoch \(epoch) is not led here (this unit holds \(held))")
    }
}
