/// The three-digit status of every reply, sent as three ASCII digits (PROTOCOL.md, "Status codes").
public enum Status: UInt16, Sendable, Equatable, CaseIterable {
    /// The operation succeeded; the payload is its result.
    case ok = 200
    /// The key has no entry (`get`, `del`, `cas` on a missing key with a non-zero version).
    case notFound = 404
    /// The request was malformed or named an unknown section or operation; nothing changed.
    case badRequest = 400
    /// `cas` saw another version than the one expected; nothing changed.
    case conflict = 409
    /// The request is larger than the grid's `max_message_bytes`; nothing changed.
    case tooLarge = 413
    /// A unit received a request for a partition it does not lead under that epoch (fencing).
    case misdirected = 421
    /// A bug: the grid failed to handle a valid request. Nothing is known to have changed.
    case internalError = 500
    /// An `mmi.*` service the broker does not implement.
    case notImplemented = 501
    /// No unit currently leads the key's partition; retry later.
    case unavailable = 503
    /// The grid did not answer within the client's timeout (reported by the client library).
    case timeout = 504

    /// The three ASCII digits on the wire.
    public var ascii: [UInt8] {
        if self == .ok { return Self.okASCII }
        let value = rawValue
        return [UInt8(48 + value / 100), UInt8(48 + (value / 10) % 10), UInt8(48 + value % 10)]
    }

    /// "200", made once: nearly every reply carries it.
    private static let okASCII: [UInt8] = Array("200".utf8)

    /// Parses three ASCII digits; nil for anything else.
    public init?<Bytes: Collection>(ascii bytes: Bytes) where Bytes.Element == UInt8 {
        guard bytes.count == 3 else { return nil }
        var value: UInt16 = 0
        for byte in bytes {
            guard byte >= 48, byte <= 57 else { return nil }
            value = value * 10 + UInt16(byte - 48)
        }
        self.init(rawValue: value)
    }

    public var isSuccess: Bool { self == .ok }
}
