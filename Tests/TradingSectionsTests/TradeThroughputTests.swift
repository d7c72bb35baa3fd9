import Foundation
import GridCore
@testable import TradingSections
import XCTest

/// How many `customer trade` operations a core runs, with the Foundation-only JSON of before and with
/// the reader and writer: the operation function alone, on one account, its output fed back as the
/// entry (so the account soon holds its 20 most recent trades). No grid, no network.
///
/// Skipped unless SPACEGRID_JSON_BENCH=1 (SPACEGRID_JSON_BENCH_TRADES sets the count, 200,000 by default):
///
///     SPACEGRID_JSON_BENCH=1 swift test -c release --filter TradeThroughputTests
final class TradeThroughputTests: XCTestCase {
    func testTradeThroughput() throws {
        let environment = ProcessInfo.processInfo.environment
        try XCTSkipUnless(environment["SPACEGRID_JSON_BENCH"] == "1", "set SPACEGRID_JSON_BENCH=1 to measure")
        let trades = Int(environment["SPACEGRID_JSON_BENCH_TRADES"] ?? "") ?? 200_000
        let before = try run(trades, LegacyTrading.trade)
        let now = try run(trades, Customer.trade)
        XCTAssertEqual(now.value, before.value, "the same account after the same trades")
        print(String(format: "trade throughput: Foundation %.0f ops/s, reader and writer %.0f ops/s (%.1fx), %d trades each",
                     before.rate, now.rate, now.rate / before.rate, trades))
    }

    private func run(_ trades: Int, _ trade: (OperationInput) throws(GridError) -> OperationOutput) throws -> (rate: Double, value: [UInt8]) {
        let key = bytes("100000")
        let symbols = [bytes(#"{"amount":500,"stock":"AAPL"}"#), bytes(#"{"amount": 125, "stock": "MSFT"}"#)]
        var value = bytes(#"{"balance":1000000000000}"#)
        let clock = ContinuousClock()
        let start = clock.now
        for number in 0..<trades {
            let output = try trade(OperationInput(key: key, value: value, version: UInt64(number), arguments: [symbols[number & 1]]))
            guard case .put(let written) = output.write else { throw GridError(.internalError, "bench", "trade \(number) wrote nothing") }
            value = written
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (Double(trades) / seconds, value)
    }
}
