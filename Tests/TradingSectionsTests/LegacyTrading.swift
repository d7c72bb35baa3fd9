import Foundation
import GridCore
@testable import TradingSections

/// The trading sections' JSON as it was before the reader and writer, Foundation
/// only: kept here to compare with (same results) and to measure against.
enum LegacyTrading {
    /// `TradingJSON.arguments` with Foundation alone.
    static func arguments<Arguments: Decodable>(_ type: Arguments.Type, _ input: OperationInput, operation: String) throws(GridError) -> Arguments {
        guard input.arguments.count <= 1 else {
            throw .badArguments("\(operation): takes one JSON object after the key, got \(input.arguments.count) frames")
        }
        let frame = input.arguments.first ?? []
        guard let first = frame.first(where: { ![9, 10, 13, 32].contains($0) }) else {
            return try TradingJSON.foundationArguments(type, Array("{}".utf8), operation: operation)
        }
        guard first == UInt8(ascii: "{") else {
            throw .badArguments("\(operation): arguments must be a JSON object, got '\(TradingError.text(Array(frame.prefix(40))))'")
        }
        return try TradingJSON.foundationArguments(type, frame, operation: operation)
    }

    /// `Customer.trade` as it was.
    static func trade(_ input: OperationInput) throws(GridError) -> OperationOutput {
        let arguments = try arguments(TradeArguments.self, input, operation: "trade")
        let amount = try Check.positive(arguments.amount, "amount", "trade")
        let stock = try Check.nonEmpty(arguments.stock, "stock", "trade")
        guard let value = input.value else { throw TradingError.notFound("account", input.key) }
        guard var account = TradingJSON.foundationDecode(Account.self, from: value) else {
            throw TradingError.badValue("account", input.key, expected: #"{"balance": cents}"#)
        }
        guard amount <= account.balance else {
            throw TradingError.insufficientFunds("the balance of account '\(input.keyText)' is \(account.balance), less than \(amount)")
        }
        account.balance -= amount
        var trades = account.trades ?? []
        trades.append(Account.Trade(amount: amount, stock: stock))
        account.trades = Array(trades.suffix(Customer.recentTrades))
        account.pending = account.pending ?? [:]
        return .ok(foundationEncode(Customer.TradeReply(balance: account.balance)), write: .put(foundationEncode(account)))
    }

    /// An operation's output, its refusal as a failure.
    static func run(_ body: (OperationInput) throws(GridError) -> OperationOutput, _ input: OperationInput) -> OperationOutput {
        do throws(GridError) {
            return try body(input)
        } catch {
            return .failure(error)
        }
    }
}
