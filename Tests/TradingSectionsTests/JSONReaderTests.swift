import Foundation
import GridCore
@testable import TradingSections
import XCTest

/// The reader on its own: what it takes, what it refuses and why, and that what it takes it reads as
/// Foundation's JSONDecoder does.
final class JSONReaderTests: XCTestCase {
    private typealias Failure = JSONReader.Failure

    private func read<Value: JSONReadable>(_ type: Value.Type, _ json: String) -> Result<Value, Failure> {
        Result { () throws(Failure) in try JSONReader.read(type, from: bytes(json)) }
    }

    private func failure<Value: JSONReadable>(_ type: Value.Type, _ json: [UInt8]) -> Failure? {
        do {
            _ = try JSONReader.read(type, from: json)
            return nil
        } catch {
            return error
        }
    }

    private func failure<Value: JSONReadable>(_ type: Value.Type, _ json: String) -> Failure? { failure(type, bytes(json)) }

    private func foundation<Value: Decodable>(_ type: Value.Type, _ json: String) -> Value? {
        TradingJSON.foundationDecode(type, from: bytes(json))
    }

    // MARK: - Round trips

    func testRoundTripsOfEveryStoredValue() throws {
        var samples = JSONSamples(seed: 10)
        for _ in 0..<500 {
            try assertRoundTrip(samples.account(), &samples)
            try assertRoundTrip(samples.product(), &samples)
            try assertRoundTrip(samples.order(), &samples)
            try assertRoundTrip(samples.index(), &samples)
        }
    }

    /// Written, read back (as written and with whitespace anywhere between tokens): the same bytes again,
    /// and the same value as Foundation reads.
    private func assertRoundTrip<Value: JSONReadable & JSONWritable & Decodable>(_ value: Value, _ samples: inout JSONSamples,
                                                                                  file: StaticString = #filePath, line: UInt = #line) throws {
        let written = JSONWriter.encode(value)
        for document in [written, samples.spaced(written)] {
            let read = try JSONReader.read(Value.self, from: document)
            XCTAssertEqual(JSONWriter.encode(read), written, text(document), file: file, line: line)
            let foundation = try XCTUnwrap(TradingJSON.foundationDecode(Value.self, from: document), text(document), file: file, line: line)
            XCTAssertEqual(JSONWriter.encode(foundation), written, text(document), file: file, line: line)
        }
    }

    func testWhitespaceAnywhereBetweenTokens() throws {
        let document = " \t\r\n{ \"amount\" \n:\t-12 \r, \"stock\"\n:\n\"A B\" , \"x\" : [ 1 , { } , [ ] , null , true , false , \"s\" ] } \n"
        XCTAssertEqual(try read(TradeArguments.self, document).get(), foundation(TradeArguments.self, document))
        XCTAssertEqual(try read(TradeArguments.self, document).get().stock, "A B")
        // Only JSON's four: not a form feed, a vertical tab or a no-break space.
        for space in ["\u{0C}", "\u{0B}", "\u{A0}"] {
            XCTAssertEqual(failure([String: Int64].self, "{\"a\":1\(space)}"), .syntax(at: 6), space.debugDescription)
            XCTAssertNil(foundation([String: Int64].self, "{\"a\":1\(space)}"))
        }
    }

    // MARK: - Strings

    func testEscapes() throws {
        let cases: [(String, String)] = [
            (#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{8}\u{C}\n\r\t"),
            (#""\u00e9\u00E9\u0041\u0000""#, "ééA\u{0}"),
            (#""\uD83D\uDE00 \ud83d\ude00""#, "😀 😀"),
            (#""\uDBFF\uDFFF\uFFFF\u2028""#, "\u{10FFFF}\u{FFFF}\u{2028}"),
            (#""é日本😀 raw""#, "é日本😀 raw"),
            (#""a\u0301""#, "a\u{301}"),
            (#""""#, ""),
        ]
        for (json, expected) in cases {
            let read = try read([String: String].self, "{\"k\":\(json)}").get()
            XCTAssertEqual(read["k"].map { Array($0.utf8) }, Array(expected.utf8), json)
            XCTAssertEqual(foundation([String: String].self, "{\"k\":\(json)}")?["k"].map { Array($0.utf8) }, Array(expected.utf8), json)
        }
        // Keys are unescaped before they are matched.
        XCTAssertEqual(try read(TradeArguments.self, #"{"\u0061mount":5,"st\u006Fck":"A"}"#).get(), foundation(TradeArguments.self, #"{"\u0061mount":5,"st\u006Fck":"A"}"#))
    }

    func testBadStringsAreSyntaxFailures() {
        let cases: [(String, Int)] = [
            (#"{"k":"\ud800"}"#, 12), (#"{"k":"\udc00"}"#, 8), (#"{"k":"\uD83D\u0041"}"#, 14), (#"{"k":"\uD83Dx"}"#, 12),
            (#"{"k":"\u12"}"#, 8), (#"{"k":"\u12G4"}"#, 8), (#"{"k":"\x"}"#, 7), (#"{"k":"\U0041"}"#, 7), (#"{"k":"\'"}"#, 7),
            ("{\"k\":\"a\u{1}\"}", 7), ("{\"k\":\"\n\"}", 6), (#"{"k":"abc"#, 9), (#"{"k":"abc\"#, 9),
        ]
        for (json, offset) in cases {
            XCTAssertEqual(failure([String: String].self, json), .syntax(at: offset), json)
            XCTAssertNil(foundation([String: String].self, json), "Foundation refuses \(json) too")
        }
    }

    func testInvalidUTF8IsASyntaxFailure() {
        let sequences: [[UInt8]] = [
            [0xFF], [0x80], [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF0, 0x80, 0x80, 0xAF],
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xE2, 0x82], [0xC3], [0xE2, 0x28, 0xA1],
        ]
        for sequence in sequences {
            let json = bytes(#"{"k":"a"#) + sequence + bytes(#"b"}"#)
            XCTAssertEqual(failure([String: String].self, json), .syntax(at: 7), "\(sequence)")
            XCTAssertNil(TradingJSON.foundationDecode([String: String].self, from: json), "Foundation refuses \(sequence) too")
        }
        // The longest well-formed sequences of each length are taken.
        let valid: [[UInt8]] = [[0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF]]
        for sequence in valid {
            let json = bytes(#"{"k":"a"#) + sequence + bytes(#"b"}"#)
            XCTAssertNil(failure([String: String].self, json), "\(sequence)")
        }
    }

    // MARK: - Integers

    func testIntegers() throws {
        let cases: [(String, Int64)] = [
            ("0", 0), ("-0", 0), ("1", 1), ("-1", -1), ("1234567890", 1_234_567_890), ("-987654321012", -987_654_321_012),
            ("9223372036854775807", .max), ("-9223372036854775808", .min), ("9223372036854775806", .max - 1),
        ]
        for (number, expected) in cases {
            XCTAssertEqual(try read(AmountArguments.self, "{\"amount\":\(number)}").get().amount, expected, number)
            XCTAssertEqual(foundation(AmountArguments.self, "{\"amount\":\(number)}")?.amount, expected, number)
        }
    }

    /// A fraction, an exponent or more than 64 bits is `notAnInteger`. Foundation's JSONDecoder takes
    /// integral ones (`1.0`, `1e2`, `1.0000000000000000001` as 1): `TradingJSON` falls back to it, so
    /// arguments and stored values read as before.
    func testNumbersThatAreNoInt64() {
        for number in ["9223372036854775808", "-9223372036854775809", "99999999999999999999", "18446744073709551616", "1.5", "-0.5",
                       "1.0", "1e2", "1E2", "1e+2", "-1e-2", "0.0", "1.0000000000000000001"] {
            XCTAssertEqual(failure(AmountArguments.self, "{\"amount\":\(number)}"), .notAnInteger(at: 10), number)
        }
        XCTAssertEqual(foundation(AmountArguments.self, #"{"amount":1.0}"#)?.amount, 1, "Foundation takes 1.0 as 1")
        XCTAssertEqual(foundation(AmountArguments.self, #"{"amount":1e2}"#)?.amount, 100, "and 1e2 as 100")
        XCTAssertNil(foundation(AmountArguments.self, #"{"amount":1.5}"#))
        XCTAssertNil(foundation(AmountArguments.self, #"{"amount":9223372036854775808}"#))
        // In a field that is skipped, any JSON number goes.
        XCTAssertEqual(try read(AmountArguments.self, #"{"x":-1.5e+300,"y":99999999999999999999999,"amount":3}"#).get().amount, 3)
        XCTAssertEqual(foundation(AmountArguments.self, #"{"x":-1.5e+300,"y":99999999999999999999999,"amount":3}"#)?.amount, 3)
        XCTAssertEqual(foundation(AmountArguments.self, #"{"x":1e999,"amount":3}"#)?.amount, 3)
    }

    func testNumbersThatAreNoJSON() {
        let cases: [(String, Failure)] = [
            ("01", .syntax(at: 11)), ("-01", .syntax(at: 12)), ("00", .syntax(at: 11)), ("-", .syntax(at: 11)), ("+1", .syntax(at: 10)),
            ("1.", .syntax(at: 12)), (".5", .syntax(at: 10)), ("1e", .syntax(at: 12)), ("1e+", .syntax(at: 13)), ("1a", .syntax(at: 11)),
            ("--1", .syntax(at: 11)), ("0x10", .syntax(at: 11)), ("NaN", .syntax(at: 10)), ("Infinity", .syntax(at: 10)),
        ]
        for (number, expected) in cases {
            XCTAssertEqual(failure(AmountArguments.self, "{\"amount\":\(number)}"), expected, number)
            XCTAssertNil(foundation(AmountArguments.self, "{\"amount\":\(number)}"), "Foundation refuses \(number) too")
        }
        // Skipped fields are checked all the same (Foundation lets `01`, `1.` and `-` pass there).
        XCTAssertEqual(failure(AmountArguments.self, #"{"amount":1,"x":01}"#), .syntax(at: 17))
        XCTAssertEqual(failure(AmountArguments.self, #"{"amount":1,"x":1.}"#), .syntax(at: 18))
        XCTAssertEqual(foundation(AmountArguments.self, #"{"amount":1,"x":01}"#)?.amount, 1)
    }

    // MARK: - Types, documents

    func testWrongTypesMissingFieldsAndNull() {
        XCTAssertEqual(failure(AmountArguments.self, #"{"amount":"1"}"#), .wrongType(at: 10))
        XCTAssertEqual(failure(AmountArguments.self, #"{"amount":null}"#), .wrongType(at: 10))
        XCTAssertEqual(failure(AmountArguments.self, #"{"amount":[1]}"#), .wrongType(at: 10))
        XCTAssertEqual(failure(AmountArguments.self, #"{"amount":true}"#), .wrongType(at: 10))
        XCTAssertEqual(failure(AmountArguments.self, #"{"amount":x}"#), .syntax(at: 10))
        XCTAssertEqual(failure(AmountArguments.self, #"{}"#), .missingField("amount"))
        XCTAssertEqual(failure(AmountArguments.self, #"[]"#), .wrongType(at: 0))
        XCTAssertEqual(failure(StepIDArguments.self, #"{"id":7}"#), .wrongType(at: 6))
        XCTAssertEqual(failure(OrderValue.self, #"{"customer":"42","id":"o-1","quantity":2,"state":"sleeping","symbol":"A"}"#), .invalidValue(at: 49))
        // null is nil for an optional field, as Foundation's `decodeIfPresent`.
        XCTAssertEqual(try read(AmountAndIDArguments.self, #"{"amount":1,"id":null}"#).get(), foundation(AmountAndIDArguments.self, #"{"amount":1,"id":null}"#))
        XCTAssertNil(try read(AmountAndIDArguments.self, #"{"amount":1,"id":null}"#).get().id)
        XCTAssertNil(try read(Account.self, #"{"balance":1,"pending":null,"trades":null}"#).get().pending)
    }

    func testTrailingBytesAndBrokenContainers() {
        let cases: [(String, Int)] = [
            (#"{"a":1} x"#, 8), (#"{"a":1}{}"#, 7), (#"{"a":1},"#, 7), (#"{"a":1"#, 6), (#"{"a":1,}"#, 7), (#"{,}"#, 1), (#"{"a" 1}"#, 5),
            (#"{"a":1 "b":2}"#, 7), (#"{"a":}"#, 5), (#"{"a":1,,"b":2}"#, 7), (#"{"a":[1,]}"#, 8), (#"{"a":[,1]}"#, 6), (#"{"a":[1 2]}"#, 8),
            (#"{"a":truex}"#, 9), (#"{"a":nul}"#, 5), (#"{"a":tRue}"#, 5), ("\u{FEFF}{}", 0), ("", 0), ("   ", 3), ("{\"a\":1}\u{0}", 7),
        ]
        for (json, offset) in cases {
            XCTAssertEqual(failure(NoArguments.self, json), .syntax(at: offset), json.debugDescription)
        }
        XCTAssertNil(failure(NoArguments.self, " {\"a\":[1,{\"b\":[]},\"c\",null,true,false,-0.5e3]}\n\t"))
    }

    /// Foundation's JSONDecoder keeps the first of equal keys, and only checks that the later ones are
    /// JSON (not that they are of the field's type); so does the reader, for fields and for maps.
    func testDuplicateKeysKeepTheFirstAsFoundation() throws {
        let fields = [#"{"amount":1,"amount":2}"#, #"{"amount":1,"amount":"x"}"#, #"{"amount":1,"amount":1.5}"#, #"{"amount":1,"id":"a","id":"b"}"#,
                      #"{"id":null,"id":"x","amount":1}"#, #"{"id":"y","id":5,"amount":1}"#, #"{"\u0061mount":1,"amount":2}"#]
        for json in fields {
            let read = try read(AmountAndIDArguments.self, json).get()
            XCTAssertEqual(read, foundation(AmountAndIDArguments.self, json), json)
        }
        XCTAssertEqual(try read(AmountAndIDArguments.self, #"{"amount":1,"amount":"x"}"#).get().amount, 1)
        XCTAssertNil(try read(AmountAndIDArguments.self, #"{"id":null,"id":"x","amount":1}"#).get().id)
        for json in [#"{"a":1,"a":2}"#, #"{"a":1,"a":"x"}"#, #"{"\u0061":1,"a":2}"#, "{\"é\":1,\"e\u{301}\":2}", "{\"e\u{301}\":1,\"é\":2}"] {
            let read = try read([String: Int64].self, json).get()
            let foundation = try XCTUnwrap(foundation([String: Int64].self, json), json)
            XCTAssertEqual(exact(read), exact(foundation), json)
            XCTAssertEqual(read.count, 1, json)
            XCTAssertEqual(read.first?.value, 1, json)
        }
        // A later copy that is no JSON fails, as in Foundation.
        XCTAssertEqual(failure(AmountArguments.self, #"{"amount":1,"amount":}"#), .syntax(at: 21))
        XCTAssertNil(foundation(AmountArguments.self, #"{"amount":1,"amount":}"#))
    }

    /// 512 nested objects and arrays are taken, 513 are not, as in Foundation.
    func testNestingLimit() {
        XCTAssertEqual(JSONReader.maximumDepth, 512)
        for depth in [2, 3, 100, 511, 512, 513, 600] {
            let inner = String(repeating: "[", count: depth - 1) + String(repeating: "]", count: depth - 1)
            let json = #"{"amount":1,"x":"# + inner + "}"
            let objects = #"{"amount":1,"x":"# + String(repeating: #"{"a":"#, count: depth - 1) + "1" + String(repeating: "}", count: depth - 1) + "}"
            let taken = depth <= 512
            XCTAssertEqual(failure(AmountArguments.self, json) == nil, taken, "\(depth)")
            XCTAssertEqual(failure(AmountArguments.self, objects) == nil, taken, "\(depth) objects")
            XCTAssertEqual(foundation(AmountArguments.self, json) != nil, taken, "Foundation at \(depth)")
            XCTAssertEqual(foundation(AmountArguments.self, objects) != nil, taken, "Foundation at \(depth) objects")
            if !taken { XCTAssertEqual(failure(AmountArguments.self, json), .tooDeep(at: 16 + 512 - 1), "\(depth)") }
        }
    }

    // MARK: - Against Foundation, at random

    /// Random documents, valid and broken: whatever the reader takes, Foundation takes too, as the same
    /// value. (What the reader refuses goes to Foundation in `TradingJSON`.)
    func testWhatTheReaderTakesFoundationReadsTheSame() {
        var samples = JSONSamples(seed: 11)
        var taken = 0
        for round in 0..<3_000 {
            let documents: [[UInt8]] = [
                JSONWriter.encode(samples.account()), JSONWriter.encode(samples.product()),
                JSONWriter.encode(samples.order()), JSONWriter.encode(samples.index()),
            ]
            for document in documents {
                let candidate = samples.chance(20) ? samples.spaced(document) : samples.mutated(document)
                taken += check(Account.self, candidate, round) + check(ProductValue.self, candidate, round)
                    + check(OrderValue.self, candidate, round) + check(OrderIndexValue.self, candidate, round)
                    + check([String: String].self, candidate, round)
            }
        }
        XCTAssertGreaterThan(taken, 3_000, "enough documents are taken for the comparison to mean something")
    }

    private func check<Value: JSONReadable & Decodable>(_ type: Value.Type, _ document: [UInt8], _ round: Int,
                                                         file: StaticString = #filePath, line: UInt = #line) -> Int {
        guard let read = try? JSONReader.read(type, from: document) else { return 0 }
        let foundation = TradingJSON.foundationDecode(type, from: document)
        XCTAssertNotNil(foundation, "round \(round): the reader took what Foundation refuses: \(text(document))", file: file, line: line)
        if let foundation {
            XCTAssertEqual(exactJSON(read), exactJSON(foundation), "round \(round): \(text(document))", file: file, line: line)
        }
        return 1
    }

    private func exactJSON<Value>(_ value: Value) -> [UInt8] {
        if let value = value as? any JSONWritable { return JSONWriter.encode(value) }
        return exact(value)
    }
}
