import Foundation
import GridCore
@testable import TradingSections
import XCTest

/// The writer against Foundation's JSONEncoder (`[.sortedKeys, .withoutEscapingSlashes]`, what the
/// sections used before): byte for byte, for every value the sections write.
final class JSONWriterTests: XCTestCase {
    private func assertSameAsFoundation<Value: Encodable & JSONWritable>(_ value: Value, file: StaticString = #filePath, line: UInt = #line) {
        let written = JSONWriter.encode(value)
        let expected = foundationEncode(value)
        XCTAssertEqual(written, expected, "\(text(written)) vs Foundation's \(text(expected))", file: file, line: line)
    }

    func testStringsEscapeExactlyAsFoundation() {
        for piece in JSONSamples.pieces { assertSameAsFoundation(["k": piece]) }
        var all = ""
        for scalar in 0..<0x80 { all.unicodeScalars.append(Unicode.Scalar(UInt8(scalar))) }
        assertSameAsFoundation([all])
        XCTAssertEqual(text(JSONWriter.encode(["a/b\"c\\d\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}é"])),
                       #"["a/b\"c\\d\b\f\n\r\t\u0001\u001f"# + "\u{7f}é\"]")
        var samples = JSONSamples(seed: 1)
        for _ in 0..<2_000 { assertSameAsFoundation([samples.string(maxPieces: 20)]) }
    }

    func testIntegersAsFoundation() {
        var samples = JSONSamples(seed: 2)
        let edges: [Int64] = [0, 1, -1, 9, 10, 99, 100, -100, Int64.max, Int64.min, Int64.max - 1, Int64.min + 1, 1_000_000_000_000_000_000]
        assertSameAsFoundation(edges)
        assertSameAsFoundation((0..<2_000).map { _ in samples.int64() })
    }

    /// Map keys in the order of their UTF-8 bytes: `o-10` before `o-2`, `Z` before `_` before `a`, NFD `é` before NFC `é`.
    func testMapKeysAreSortedByTheirBytes() {
        let keys = ["o-2/debit", "o-10/debit", "B", "a", "_", "Z", "a10", "a9", "A", "é", "ａ", "", "e\u{301}x", "😀", "\u{10FFFF}"]
        let map = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, Int64($0)) })
        assertSameAsFoundation(map)
        XCTAssertEqual(JSONWriter.encode(map), bytes(#"{"":11,"A":8,"B":2,"Z":5,"_":4,"a":3,"a10":6,"a9":7,"# + "\"e\u{301}x\":12,"
                       + #""o-10/debit":1,"o-2/debit":0,"é":9,"ａ":10,"😀":13,"# + "\"\u{10FFFF}\":14}"))
        var samples = JSONSamples(seed: 3)
        for _ in 0..<1_000 { assertSameAsFoundation(samples.map { $0.string() }) }
    }

    func testStoredValuesAsFoundation() {
        var samples = JSONSamples(seed: 4)
        for _ in 0..<1_000 {
            assertSameAsFoundation(samples.account())
            assertSameAsFoundation(samples.product())
            assertSameAsFoundation(samples.order())
            assertSameAsFoundation(samples.index())
        }
        assertSameAsFoundation(Account(balance: 0, pending: [:], trades: []))
        assertSameAsFoundation(Account(balance: 0, pending: nil, trades: nil))
    }

    func testRepliesAndStepArgumentsAsFoundation() {
        var samples = JSONSamples(seed: 5)
        for _ in 0..<1_000 {
            assertSameAsFoundation(Customer.BalanceReply(balance: samples.int64()))
            assertSameAsFoundation(Customer.TradeReply(balance: samples.int64()))
            assertSameAsFoundation(Product.QuoteReply(price: samples.int64(), stock: samples.int64(), symbol: samples.name()))
            assertSameAsFoundation(Product.ReserveReply(price: samples.int64(), stock: samples.int64()))
            assertSameAsFoundation(Product.StockReply(stock: samples.int64()))
            assertSameAsFoundation(OrderIndex.IndexReply(count: samples.below(2_000), customer: samples.name()))
            assertSameAsFoundation(OrderWorkflow.StepArguments(amount: samples.chance(50) ? samples.int64() : nil, id: samples.chance(50) ? samples.name() : nil,
                                                               order: samples.chance(50) ? samples.name() : nil, quantity: samples.chance(50) ? samples.int64() : nil))
            assertSameAsFoundation(OrderWorkflow.PlacedReply(amount: samples.int64(), order: samples.name(), price: samples.int64()))
            assertSameAsFoundation(OrderWorkflow.FailedReply(code: samples.name(), message: samples.string(), order: samples.name(), reason: samples.name()))
        }
    }

    /// Commas between keys and elements, at every depth.
    func testNestingAndCommas() {
        let nested: [String: [[String: [Int64]]]] = ["b": [["x": [1, 2], "y": []], [:]], "a": []]
        XCTAssertEqual(text(JSONWriter.encode(nested)), #"{"a":[],"b":[{"x":[1,2],"y":[]},{}]}"#)
        assertSameAsFoundation(nested)
    }
}
