import Foundation
import GridCore
@testable import TradingSections

/// Seeded random values of the trading sections, and the JSON documents made
/// from them, for the reader and writer tests. A failure replays from its seed.
struct JSONSamples {
    var rng: SplitMix64

    init(seed: UInt64) {
        rng = SplitMix64(seed: seed)
    }

    /// Pieces strings are made of: what JSON escapes, what it does not (`/`, DEL, U+2028), and
    /// UTF-8 of every length, with a precomposed and a decomposed é.
    static let pieces: [String] = [
        "a", "Z", "0", "9", " ", "-", "_", "o-17", "AAPL", "/", "\"", "\\", "\u{7F}", "\u{80}", "é", "e\u{301}",
        "ａ", "日本", "😀", "\u{2028}", "\u{2029}", "\u{FEFF}", "\u{10FFFF}", "\u{FFFF}", "{", "}", "[", "]", ":", ",",
    ] + (0..<32).map { String(UnicodeScalar(UInt8($0))) }

    mutating func below(_ bound: Int) -> Int { rng.below(bound) }

    mutating func chance(_ percent: Int) -> Bool { rng.below(100) < percent }

    mutating func string(maxPieces: Int = 8) -> String {
        (0..<below(maxPieces + 1)).map { _ in Self.pieces[below(Self.pieces.count)] }.joined()
    }

    /// A short plain string most of the time (what the sections usually hold), anything otherwise.
    mutating func name() -> String {
        chance(70) ? ["AAPL", "MSFT", "o-17", "o-2/debit", "42", "x"][below(6)] : string()
    }

    mutating func int64() -> Int64 {
        switch below(6) {
        case 0: [0, 1, -1, Int64.max, Int64.min, Int64.max - 1, Int64.min + 1, 10, -10, 1_000_000][below(10)]
        case 1: Int64(bitPattern: rng.next())
        case 2: -Int64(below(1_000_000))
        default: Int64(below(1_000_000))
        }
    }

    mutating func map<Value>(_ value: (inout JSONSamples) -> Value) -> [String: Value] {
        var map: [String: Value] = [:]
        for _ in 0..<below(5) { map[name()] = value(&self) }
        return map
    }

    mutating func account() -> Account {
        Account(balance: int64(),
                pending: chance(80) ? map { $0.int64() } : nil,
                trades: chance(80) ? (0..<below(22)).map { _ in Account.Trade(amount: int64(), stock: name()) } : nil)
    }

    mutating func product() -> ProductValue {
        ProductValue(pending: chance(80) ? map { .init(price: $0.int64(), quantity: $0.int64()) } : nil,
                     price: int64(), stock: int64(), symbol: chance(80) ? name() : nil)
    }

    mutating func order() -> OrderValue {
        let states: [OrderValue.State] = [.started, .reserved, .placed, .done, .compensating, .failed]
        return OrderValue(amount: chance(50) ? int64() : nil, customer: name(), id: name(), price: chance(50) ? int64() : nil,
                          quantity: int64(), reason: chance(30) ? name() : nil, state: states[below(states.count)],
                          stepsDone: chance(60) ? (0..<below(5)).map { _ in name() } : nil, symbol: name())
    }

    mutating func index() -> OrderIndexValue {
        OrderIndexValue(customer: name(), orders: (0..<below(6)).map { _ in name() })
    }

    // MARK: - Documents

    /// Whitespace (space, tab, line feed, carriage return) inserted at random around the structural
    /// characters of a document (never inside a string or a number).
    mutating func spaced(_ document: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var inString = false
        var escaped = false
        func space(_ samples: inout JSONSamples, _ out: inout [UInt8]) {
            for _ in 0..<samples.below(3) { out.append([32, 9, 10, 13][samples.below(4)]) }
        }
        space(&self, &out)
        for byte in document {
            if inString {
                out.append(byte)
                if escaped { escaped = false } else if byte == 92 { escaped = true } else if byte == 34 { inString = false }
                continue
            }
            let structural = Array("{}[]:,".utf8).contains(byte)
            if structural { space(&self, &out) }
            out.append(byte)
            if structural { space(&self, &out) }
            if byte == 34 { inString = true }
        }
        space(&self, &out)
        return out
    }

    /// Bytes that break JSON, or nearly: stray tokens, bad escapes, invalid UTF-8, numbers.
    static let noise: [[UInt8]] = [
        [0x22], [0x5C], [0x2C], [0x3A], [0x7B], [0x7D], [0x5B], [0x5D], [0x30], [0x2D], [0x2E], [0x65], [0x2B], [0x00], [0x01], [0x1F],
        [0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], Array("\\u".utf8), Array("\\uD83D".utf8),
        Array("\\uDE00".utf8), Array("\\x".utf8), Array("1.5".utf8), Array("1.0".utf8), Array("1e2".utf8), Array("01".utf8),
        Array("null".utf8), Array("true".utf8), Array("99999999999999999999".utf8), Array("-0".utf8), Array(" ".utf8),
        Array("\u{FEFF}".utf8), Array("[1,]".utf8), Array("{\"a\":1,}".utf8),
    ]

    /// The document with one to three random edits: a byte deleted, noise inserted or replacing a byte,
    /// a piece repeated.
    mutating func mutated(_ document: [UInt8]) -> [UInt8] {
        var bytes = document
        for _ in 0...below(3) {
            let at = below(bytes.count + 1)
            switch below(4) {
            case 0 where at < bytes.count: bytes.remove(at: at)
            case 1: bytes.insert(contentsOf: Self.noise[below(Self.noise.count)], at: at)
            case 2 where at < bytes.count: bytes.replaceSubrange(at...at, with: Self.noise[below(Self.noise.count)])
            default:
                let end = min(bytes.count, at + below(12))
                bytes.insert(contentsOf: bytes[at..<end], at: at)
            }
        }
        return bytes
    }
}

/// What the trading sections wrote before the writer: Foundation's JSONEncoder.
func foundationEncode<Value: Encodable>(_ value: Value) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return Array(try! encoder.encode(value))
}

/// A value as exact bytes (Swift's `==` on strings takes canonically equivalent ones as equal).
func exact(_ value: Any) -> [UInt8] {
    Array(String(reflecting: value).utf8)
}
