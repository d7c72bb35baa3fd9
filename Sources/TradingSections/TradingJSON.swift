import Foundation
import GridCore

/// JSON for the trading sections: values, arguments and replies are compact
/// JSON objects with sorted keys. Amounts are integer cents (`Int64`), never
/// floating point.
///
/// The hot path reads with `JSONReader` and writes with `JSONWriter`, no
/// Foundation. Whatever the reader does not take (an error, or JSON it is
/// stricter about than Foundation, such as `1.0` for an integer) goes to
/// Foundation's JSONDecoder as before, so values decode, and bad arguments
/// fail with the same message, exactly as they did with Foundation alone.
enum TradingJSON {
    /// Compact, sorted keys, `/` not escaped (step ids such as `o-17/reserve` stay readable).
    static func encode(_ value: some JSONWritable) -> [UInt8] {
        JSONWriter.encode(value)
    }

    /// The value, or nil when the bytes are not one.
    static func decode<Value: Decodable & JSONReadable>(_ type: Value.Type, from bytes: [UInt8]) -> Value? {
        if let value = try? JSONReader.read(type, from: bytes) { return value }
        return foundationDecode(type, from: bytes)
    }

    /// The value as Foundation's JSONDecoder reads it (the reader's fallback).
    static func foundationDecode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) -> Value? {
        try? JSONDecoder().decode(type, from: Data(bytes))
    }

    /// The operation's arguments: one frame holding a JSON object. No frame,
    /// or one empty frame, reads as `{}` (so `quote` needs nothing after the key).
    static func arguments<Arguments: Decodable & JSONReadable>(_ type: Arguments.Type, _ input: OperationInput, operation: String) throws(GridError) -> Arguments {
        guard input.arguments.count <= 1 else {
            throw .badArguments("\(operation): takes one JSON object after the key, got \(input.arguments.count) frames")
        }
        let frame = input.arguments.first ?? []
        guard let first = frame.first(where: { ![9, 10, 13, 32].contains($0) }) else {
            return try arguments(type, emptyObject, operation: operation)
        }
        guard first == UInt8(ascii: "{") else {
            throw .badArguments("\(operation): arguments must be a JSON object, got '\(TradingError.text(Array(frame.prefix(40))))'")
        }
        return try arguments(type, frame, operation: operation)
    }

    private static let emptyObject: [UInt8] = Array("{}".utf8)

    private static func arguments<Arguments: Decodable & JSONReadable>(_ type: Arguments.Type, _ bytes: [UInt8], operation: String) throws(GridError) -> Arguments {
        if let arguments = try? JSONReader.read(type, from: bytes) { return arguments }
        return try foundationArguments(type, bytes, operation: operation)
    }

    /// The arguments as Foundation's JSONDecoder reads them, with a message naming the field at fault
    /// (the reader's fallback: bad arguments, and JSON the reader is stricter about).
    static func foundationArguments<Arguments: Decodable>(_ type: Arguments.Type, _ bytes: [UInt8], operation: String) throws(GridError) -> Arguments {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty, let field = nonIntegerField(bytes) {
                throw .badArguments("\(operation): field '\(field)' must be an integer (64 bits, no fraction)")
            }
            throw .badArguments("\(operation): \(describe(error))")
        } catch {
            throw .badArguments("\(operation): arguments are not valid JSON")
        }
    }

    /// The first field (by name) of a valid JSON object holding a number that is no 64-bit integer:
    /// some decoders report such a number as corrupted data without naming the field.
    private static func nonIntegerField(_ bytes: [UInt8]) -> String? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else { return nil }
        return object.keys.sorted().first { key in
            guard let number = object[key] as? NSNumber else { return false }
            return Int64(exactly: number.doubleValue) == nil || number.stringValue.contains(".") || number.stringValue.contains("e")
        }
    }

    /// A message naming the field at fault.
    static func describe(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey]) -> String {
            path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = field(context.codingPath)
            return "missing field '\(parent.isEmpty ? key.stringValue : parent + "." + key.stringValue)'"
        case .valueNotFound(let type, let context):
            return context.codingPath.isEmpty ? "arguments must be a JSON object" : "field '\(field(context.codingPath))' must be \(kind(type)), not null"
        case .typeMismatch(let type, let context):
            return context.codingPath.isEmpty ? "arguments must be a JSON object" : "field '\(field(context.codingPath))' must be \(kind(type))"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "arguments are not valid JSON" : "field '\(field(context.codingPath))' has an invalid value (integers only, within 64 bits)"
        @unknown default:
            return "arguments are invalid"
        }
    }

    private static func kind(_ type: Any.Type) -> String {
        switch type {
        case is Int64.Type, is Int.Type: "an integer"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        default: "a value of another type"
        }
    }
}

/// The stable error codes of the trading sections, on top of GridCore's.
enum TradingError {
    static func notFound(_ what: String, _ key: [UInt8]) -> GridError {
        GridError(.notFound, "not_found", "no \(what) '\(text(key))'")
    }
    static func insufficientFunds(_ message: String) -> GridError { GridError(.conflict, "insufficient_funds", message) }
    static func outOfStock(_ message: String) -> GridError { GridError(.conflict, "out_of_stock", message) }
    static func exists(_ message: String) -> GridError { GridError(.conflict, "exists", message) }
    /// The stored entry is not what the section keeps (written with a plain `put`, say).
    static func badValue(_ what: String, _ key: [UInt8], expected: String) -> GridError {
        GridError(.badRequest, "bad_value", "the entry '\(text(key))' is not a valid \(what) (expected \(expected))")
    }

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes.prefix(200), as: UTF8.self) }
}

/// Turns an operation that throws its refusal into a `SectionOperation`.
func operation(_ body: @escaping @Sendable (OperationInput) throws(GridError) -> OperationOutput) -> SectionOperation {
    { input in
        do throws(GridError) {
            return try body(input)
        } catch {
            return .failure(error)
        }
    }
}

/// Checks of argument fields, with messages that name the field.
enum Check {
    static func positive(_ value: Int64, _ field: String, _ operation: String) throws(GridError) -> Int64 {
        guard value > 0 else { throw .badArguments("\(operation): '\(field)' must be greater than 0, got \(value)") }
        return value
    }

    static func nonNegative(_ value: Int64, _ field: String, _ operation: String) throws(GridError) -> Int64 {
        guard value >= 0 else { throw .badArguments("\(operation): '\(field)' must be at least 0, got \(value)") }
        return value
    }

    static func nonEmpty(_ value: String, _ field: String, _ operation: String) throws(GridError) -> String {
        guard !value.isEmpty else { throw .badArguments("\(operation): '\(field)' must not be empty") }
        return value
    }

    static func sum(_ a: Int64, _ b: Int64, _ what: String, _ operation: String) throws(GridError) -> Int64 {
        let (result, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw .badArguments("\(operation): the \(what) would overflow 64 bits") }
        return result
    }
}

/// Keys of the order section: digits only is a customer id (an order index), anything else an order id.
enum TradingKeys {
    static func isCustomerID(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    static func isOrderID(_ text: String) -> Bool {
        !text.isEmpty && !isCustomerID(text)
    }
}
