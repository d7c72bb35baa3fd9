import Foundation
import GridCore
@testable import TradingSections
import XCTest

/// `TradingJSON` (the reader, Foundation when the reader refuses) against Foundation alone, as the
/// sections were before: the same values, the same errors, for random documents valid and broken.
final class TradingJSONTests: XCTestCase {
    private func input(_ arguments: [UInt8]?, value: [UInt8]? = nil) -> OperationInput {
        OperationInput(key: bytes("42"), value: value, version: 1, arguments: arguments.map { [$0] } ?? [])
    }

    private func outcome<Value>(_ body: () throws(GridError) -> Value) -> Result<[UInt8], GridError> {
        do throws(GridError) {
            return .success(exact(try body()))
        } catch {
            return .failure(error)
        }
    }

    /// Arguments of every kind, the same result as Foundation alone: value, or status, code and message.
    private func assertSameArguments<Arguments: Decodable & JSONReadable>(_ type: Arguments.Type, _ frame: [UInt8]?,
                                                                          file: StaticString = #filePath, line: UInt = #line) {
        let now = outcome { () throws(GridError) in try TradingJSON.arguments(type, input(frame), operation: "op") }
        let before = outcome { () throws(GridError) in try LegacyTrading.arguments(type, input(frame), operation: "op") }
        XCTAssertEqual(now, before, "\(Arguments.self) \(frame.map(text) ?? "-")", file: file, line: line)
    }

    func testArgumentsAsFoundationForHandPickedInputs() {
        let frames: [String?] = [
            nil, "", "  ", "{}", " { } ", "[]", "nope", "{", #"{"amount":1.0}"#, #"{"amount":1e2}"#, #"{"amount":1.5}"#, #"{"amount":-0}"#,
            #"{"amount":01}"#, #"{"amount":9223372036854775808}"#, #"{"amount":"5"}"#, #"{"amount":null}"#, #"{"amount":1,}"#,
            #"{"amount":1,"amount":"x"}"#, #"{"amount":1,"x":01}"#, "\u{FEFF}{\"amount\":1}", #"{"amount":1,"id":"\ud800"}"#,
            #"{"amount":1,"stock":"A","id":"o-1/debit","quantity":2,"price":3,"balance":4,"order":"o-1","customer":"42","symbol":"S"}"#,
            #"{"amount":7,"stock":"\u00e9\/\n","id":null,"balance":null}"#, #"{"amount":[1]}"#, #"{"stock":{},"amount":2}"#,
        ]
        for frame in frames.map({ $0.map(bytes) }) {
            assertSameArguments(NoArguments.self, frame)
            assertSameArguments(StepIDArguments.self, frame)
            assertSameArguments(OpenArguments.self, frame)
            assertSameArguments(AmountArguments.self, frame)
            assertSameArguments(AmountAndIDArguments.self, frame)
            assertSameArguments(TradeArguments.self, frame)
            assertSameArguments(PriceAndStockArguments.self, frame)
            assertSameArguments(ReserveArguments.self, frame)
            assertSameArguments(IndexArguments.self, frame)
            assertSameArguments(PlaceArguments.self, frame)
        }
    }

    func testArgumentsAsFoundationAtRandom() {
        var samples = JSONSamples(seed: 20)
        let fields = ["amount", "stock", "id", "quantity", "price", "balance", "order", "customer", "symbol", "other"]
        for _ in 0..<1_500 {
            var json = JSONWriter()
            json.beginObject()
            for field in fields where samples.chance(45) {
                json.key(field)
                switch samples.below(8) {
                case 0, 1: json.string(samples.name())
                case 2: json.string(samples.string())
                default: json.int(samples.int64())
                }
            }
            json.endObject()
            let frame = samples.chance(50) ? json.bytes : samples.chance(30) ? samples.spaced(json.bytes) : samples.mutated(json.bytes)
            assertSameArguments(OpenArguments.self, frame)
            assertSameArguments(AmountAndIDArguments.self, frame)
            assertSameArguments(TradeArguments.self, frame)
            assertSameArguments(ReserveArguments.self, frame)
            assertSameArguments(PlaceArguments.self, frame)
            assertSameArguments(NoArguments.self, frame)
        }
    }

    /// Stored values, valid and broken: `TradingJSON.decode` reads what Foundation alone reads.
    func testStoredValuesAsFoundationAtRandom() {
        var samples = JSONSamples(seed: 21)
        for round in 0..<2_000 {
            for document in [JSONWriter.encode(samples.account()), JSONWriter.encode(samples.product()), JSONWriter.encode(samples.order())] {
                let candidate = samples.chance(20) ? document : samples.chance(30) ? samples.spaced(document) : samples.mutated(document)
                XCTAssertEqual(TradingJSON.decode(Account.self, from: candidate).map { JSONWriter.encode($0) },
                               TradingJSON.foundationDecode(Account.self, from: candidate).map { JSONWriter.encode($0) }, "round \(round): \(text(candidate))")
                XCTAssertEqual(TradingJSON.decode(ProductValue.self, from: candidate).map { JSONWriter.encode($0) },
                               TradingJSON.foundationDecode(ProductValue.self, from: candidate).map { JSONWriter.encode($0) }, "round \(round): \(text(candidate))")
                XCTAssertEqual(TradingJSON.decode(OrderValue.self, from: candidate).map { JSONWriter.encode($0) },
                               TradingJSON.foundationDecode(OrderValue.self, from: candidate).map { JSONWriter.encode($0) }, "round \(round): \(text(candidate))")
            }
        }
    }

    /// `customer trade` against the Foundation-only trade: the same reply, status and stored value.
    func testTradeAsBefore() {
        var samples = JSONSamples(seed: 22)
        let stored: [String?] = [nil, "garbage", #"{"balance":1.0}"#, #"{"balance":100,"trades":null}"#, #"{"balance":5,"pending":{"a":1,"a":"x"}}"#]
        for round in 0..<3_000 {
            var account = samples.account()
            if samples.chance(70) { account.balance = Int64(samples.below(1_000_000)) }
            let value: [UInt8]? = samples.chance(90) ? JSONWriter.encode(account) : stored[samples.below(stored.count)].map(bytes)
            var json = JSONWriter()
            json.beginObject()
            if samples.chance(95) { json.field("amount", samples.chance(80) ? Int64(samples.below(2_000)) : samples.int64()) }
            if samples.chance(95) { json.field("stock", samples.name()) }
            json.endObject()
            let frame = samples.chance(70) ? json.bytes : samples.mutated(json.bytes)
            let operationInput = input(frame, value: value.map { samples.chance(10) ? samples.spaced($0) : $0 })
            let now = LegacyTrading.run(Customer.trade, operationInput)
            let before = LegacyTrading.run(LegacyTrading.trade, operationInput)
            XCTAssertEqual(now, before, "round \(round): \(text(frame)) on \(value.map(text) ?? "-")")
        }
    }
}
