import Foundation

/// A message that travels as JSON (statuses and reports, off the hot path):
/// keys sorted so the same value always gives the same bytes.
public protocol JSONMessage: Codable {}

extension JSONMessage {
    public var encoded: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    /// nil for bytes that are not this message's JSON.
    public init?(decoding bytes: [UInt8]) {
        guard let decoded = try? JSONDecoder().decode(Self.self, from: Data(bytes)) else { return nil }
        self = decoded
    }
}
