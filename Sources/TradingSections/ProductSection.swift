import GridCore

/// The `product` section: products keyed by symbol, with a price in integer
/// cents and a stock.
///
/// Value: `{"pending":{"o-17/reserve":{"price":15000,"quantity":2}},"price":15000,"stock":98,"symbol":"AAPL"}`
/// (`pending` and `symbol` may be missing: a plain `put` of
/// `{"price":15000,"stock":100}` is a valid product).
///
/// Operations (arguments: one JSON object):
/// - `set {"price":P,"stock":S}` (P ≥ 0, S ≥ 0): creates the product or
///   replaces its price and stock, keeping its pending reservations; replies the product.
/// - `quote {}`: replies `{"price":P,"stock":S,"symbol":"AAPL"}`.
/// - `reserve {"quantity":Q,"id":S}` (Q > 0): `out_of_stock` when Q > stock;
///   replies `{"price":P,"stock":remaining}`.
/// - `release {"id":S}`: undoes the pending reservation `S` (a no-op when not
///   pending); replies `{"stock":N}`.
/// - `commit {"id":S}`: settles the pending reservation `S` (a no-op when
///   absent); replies `{"stock":N}`.
///
/// Idempotency: a reservation stays in `pending`, with the price it was made
/// at, until `commit` or `release`; reserving the same id again replies that
/// original price (and the current stock) and reserves nothing.
public let productSection = Section(name: "product", operations: [
    "set": operation(Product.set),
    "quote": operation(Product.quote),
    "reserve": operation(Product.reserve),
    "release": operation(Product.release),
    "commit": operation(Product.commit),
])

/// A product, as stored.
struct ProductValue: Codable, Equatable {
    var pending: [String: Reservation]?
    var price: Int64
    var stock: Int64
    var symbol: String?

    struct Reservation: Codable, Equatable {
        var price: Int64
        var quantity: Int64
    }
}

enum Product {
    static func set(_ input: OperationInput) throws(GridError) -> OperationOutput {
        let arguments = try TradingJSON.arguments(PriceAndStockArguments.self, input, operation: "set")
        let price = try Check.nonNegative(arguments.price, "price", "set")
        let stock = try Check.nonNegative(arguments.stock, "stock", "set")
        var pending: [String: ProductValue.Reservation] = [:]
        if input.value != nil { pending = try stored(input).pending ?? [:] }
        let product = ProductValue(pending: pending, price: price, stock: stock, symbol: input.keyText)
        let value = TradingJSON.encode(product)
        return .ok(value, write: .put(value))
    }

    static func quote(_ input: OperationInput) throws(GridError) -> OperationOutput {
        _ = try TradingJSON.arguments(NoArguments.self, input, operation: "quote")
        let product = try stored(input)
        return .ok(TradingJSON.encode(QuoteReply(price: product.price, stock: product.stock, symbol: product.symbol ?? input.keyText)))
    }

    static func reserve(_ input: OperationInput) throws(GridError) -> OperationOutput {
        let arguments = try TradingJSON.arguments(ReserveArguments.self, input, operation: "reserve")
        let quantity = try Check.positive(arguments.quantity, "quantity", "reserve")
        let id = try Check.nonEmpty(arguments.id, "id", "reserve")
        var product = try stored(input)
        if let reservation = product.pending?[id] {
            return .ok(TradingJSON.encode(ReserveReply(price: reservation.price, stock: product.stock)))
        }
        guard quantity <= product.stock else {
            throw TradingError.outOfStock("only \(product.stock) of '\(input.keyText)' in stock, \(quantity) requested")
        }
        product.stock -= quantity
        product.pending = (product.pending ?? [:]).merging([id: .init(price: product.price, quantity: quantity)]) { $1 }
        return write(product, input, reply: ReserveReply(price: product.price, stock: product.stock))
    }

    /// Compensation: puts a pending reservation back in stock; a no-op when the id is not pending.
    static func release(_ input: OperationInput) throws(GridError) -> OperationOutput {
        let id = try stepID(input, operation: "release")
        var product = try stored(input)
        guard let reservation = product.pending?[id] else { return .ok(TradingJSON.encode(StockReply(stock: product.stock))) }
        product.stock = try Check.sum(product.stock, reservation.quantity, "stock", "release")
        product.pending?[id] = nil
        return write(product, input, reply: StockReply(stock: product.stock))
    }

    /// Settles a pending reservation: it can no longer be released (a no-op when the id is not pending).
    static func commit(_ input: OperationInput) throws(GridError) -> OperationOutput {
        let id = try stepID(input, operation: "commit")
        var product = try stored(input)
        guard product.pending?[id] != nil else { return .ok(TradingJSON.encode(StockReply(stock: product.stock))) }
        product.pending?[id] = nil
        return write(product, input, reply: StockReply(stock: product.stock))
    }

    // MARK: - Helpers

    private static func stepID(_ input: OperationInput, operation: String) throws(GridError) -> String {
        try Check.nonEmpty(TradingJSON.arguments(StepIDArguments.self, input, operation: operation).id, "id", operation)
    }

    /// The stored product: 404 when there is none, `bad_value` when the entry is no product.
    static func stored(_ input: OperationInput) throws(GridError) -> ProductValue {
        guard let value = input.value else { throw TradingError.notFound("product", input.key) }
        guard let product = TradingJSON.decode(ProductValue.self, from: value) else {
            throw TradingError.badValue("product", input.key, expected: #"{"price": cents, "stock": count}"#)
        }
        return product
    }

    private static func write(_ product: ProductValue, _ input: OperationInput, reply: some JSONWritable) -> OperationOutput {
        var product = product
        product.pending = product.pending ?? [:]
        product.symbol = product.symbol ?? input.keyText
        return .ok(TradingJSON.encode(reply), write: .put(TradingJSON.encode(product)))
    }
}
