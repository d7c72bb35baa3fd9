import GridCore

/// The `order` section: orders and each customer's order index.
///
/// Keys: an order is keyed by its order id, which has at least one non-digit
/// character (`o-17`); a key of digits only is a customer id and holds that
/// customer's order index, `{"customer":"42","orders":["o-17","o-18"]}` (the
/// most recent 1000, oldest first).
///
/// Operations:
/// - `get` (data operation): an order, or an index.
/// - `orders {}` (key: customer id): replies `{"customer":"42","orders":[...]}`
///   (an empty list when the customer has none).
/// - `index {"order":"o-17"}` (key: customer id): adds the order to the index
///   unless it is there already; replies `{"count":N,"customer":"42"}`.
/// - `place {"customer":"42","symbol":"AAPL","quantity":2}` (key: order id):
///   the order workflow, see `OrderWorkflow`.
public let orderSection = Section(
    name: "order",
    operations: [
        "orders": operation(OrderIndex.orders),
        "index": operation(OrderIndex.index),
    ],
    workflows: ["place": OrderWorkflow.place]
)

/// A customer's order index, as stored (and as `orders` replies it).
struct OrderIndexValue: Codable, Equatable {
    var customer: String
    var orders: [String]
}

enum OrderIndex {
    /// How many order ids an index keeps (the most recent).
    static let limit = 1000

    static func orders(_ input: OperationInput) throws(GridError) -> OperationOutput {
        _ = try TradingJSON.arguments(NoArguments.self, input, operation: "orders")
        let index = try stored(input, operation: "orders")
        return .ok(TradingJSON.encode(index))
    }

    static func index(_ input: OperationInput) throws(GridError) -> OperationOutput {
        let order = try TradingJSON.arguments(IndexArguments.self, input, operation: "index").order
        guard TradingKeys.isOrderID(order) else {
            throw .badArguments("index: 'order' must be an order id with at least one non-digit character, got '\(order)'")
        }
        var index = try stored(input, operation: "index")
        if index.orders.contains(order) {
            return .ok(TradingJSON.encode(IndexReply(count: index.orders.count, customer: index.customer)))
        }
        index.orders.append(order)
        if index.orders.count > limit { index.orders.removeFirst(index.orders.count - limit) }
        return .ok(TradingJSON.encode(IndexReply(count: index.orders.count, customer: index.customer)),
                   write: .put(TradingJSON.encode(index)))
    }

    /// The index of the customer the key names (empty when there is none yet).
    private static func stored(_ input: OperationInput, operation: String) throws(GridError) -> OrderIndexValue {
        guard TradingKeys.isCustomerID(input.keyText) else {
            throw .badArguments("\(operation): the key must be a customer id (digits only), got '\(TradingError.text(input.key))'")
        }
        guard let value = input.value else { return OrderIndexValue(customer: input.keyText, orders: []) }
        guard let index = TradingJSON.decode(OrderIndexValue.self, from: value) else {
            throw TradingError.badValue("order index", input.key, expected: #"{"customer": id, "orders": [ids]}"#)
        }
        return index
    }
}
