import GridCore

#if canImport(Glibc)
import Glibc
#endif

/// A connection's request ids (PROTOCOL.md 1.2): a random client id, each request
/// numbered by its correlation, and the floor, the lowest number still waiting for its
/// reply, which lets the grid forget the replies below it.
///
/// A request given up on (a caller's timeout) no longer holds the floor back: the caller
/// does not send it again under this numbering.
public struct RequestNumbering: Sendable {
    public let client: [UInt8]
    private var waiting: Set<UInt64> = []
    private var floor: UInt64 = 1
    private var next: UInt64 = 1

    public init(client: [UInt8] = RequestNumbering.randomClientID()) {
        self.client = client
    }

    /// 16 random bytes as 32 hex digits: printable in logs and errors.
    public static func randomClientID() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        return (0..<32).map { _ in digits[Int(generator.next() % 16)] }
    }

    /// The id of a new request numbered `sequence` (numbers only grow).
    public mutating func issue(_ sequence: UInt64) -> RequestID {
        waiting.insert(sequence)
        next = max(next, sequence + 1)
        advance()
        return RequestID(client: client, sequence: sequence, floor: floor)
    }

    /// The id to send request `sequence` again under (its first id, with today's floor).
    public func id(of sequence: UInt64) -> RequestID {
        RequestID(client: client, sequence: sequence, floor: min(floor, sequence))
    }

    public mutating func answered(_ sequence: UInt64) {
        waiting.remove(sequence)
        advance()
    }

    public mutating func abandon(_ sequence: UInt64) { answered(sequence) }

    private mutating func advance() {
        while floor < next && !waiting.contains(floor) { floor += 1 }
    }
}
