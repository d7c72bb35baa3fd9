/// The arguments of the trading operations, one JSON object each.
///
/// Each type reads itself with `JSONReader` on the hot path, and is
/// `Decodable` for Foundation, which reads whatever the reader does not take
/// and names the field at fault (`TradingJSON.arguments`). The order of the
/// properties is the order in which Foundation looks for them, so it decides
/// which missing field a message names: keep it.

// MARK: - Shared

/// `quote {}`, `orders {}`: any object (its fields are ignored).
struct NoArguments: Decodable, Equatable, JSONReadable {
    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        try reader.readObject { reader, _ throws(JSONReader.Failure) in try reader.skipValue() }
    }
}

/// `{"id":S}`: the step a `refund`, `commit` or `release` is about.
struct StepIDArguments: Decodable, Equatable, JSONReadable {
    var id: String

    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var id: String?
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            switch key {
            case "id": try reader.first(&id)
            default: try reader.skipValue()
            }
        }
        self.id = try JSONReader.required(id, "id")
    }
}

// MARK: - Customer

/// `open {"balance"?:N}`.
struct OpenArguments: Decodable, Equatable, JSONReadable {
    var balance: Int64?

    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var balance: Int64??
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            switch key {
            case "balance": try reader.first(&balance)
            default: try reader.skipValue()
            }
        }
        self.balance = balance ?? nil
    }
}

/// `deposit {"amount":A}`.
struct AmountArguments: Decodable, Equatable, JSONReadable {
    var amount: Int64

    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var amount: Int64?
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            switch key {
            case "amount": try reader.first(&amount)
            default: try reader.skipValue()
            }
        }
        self.amount = try JSONReader.required(amount, "amount")
    }
}

/// `debit`, `credit {"amount":A,"id"?:S}`.
struct AmountAndIDArguments: Decodable, Equatable, JSONReadable {
    var amount: Int64
    var id: String?

    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var amount: Int64?
        var id: String??
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            switch key {
            case "amount": try reader.first(&amount)
            case "id": try reader.first(&id)
            default: try reader.skipValue()
            }
        }
        self.amount = try JSONReader.required(amount, "amount")
        self.id = id ?? nil
    }
}

/// `trade {"amount":A,"stock":"AAPL"}`: the same shape as the trade it records.
typealias TradeArguments = Account.Trade

// MARK: - Product

/// `set {"price":P,"stock":S}`.
struct PriceAndStockArguments: Decodable, Equatable, JSONReadable {
    var price: Int64
    var stock: Int64

    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var price: Int64?
        var stock: Int64?
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            switch key {
            case "price": try reader.first(&price)
            case "stock": try reader.first(&stock)
            default: try reader.skipValue()
            }
        }
        self.price = try JSONReader.required(price, "price")
        self.stock = try JSONReader.required(stock, "stock")
    }
}

/// `reserve {"id":S,"quantity":Q}`.
struct ReserveArguments: Decodable, Equatable, JSONReadable {
    var id: String
    var quantity: Int64

    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var id: String?
        var quantity: Int64?
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            switch key {
            case "id": try reader.first(&id)
            case "quantity": try reader.first(&quantity)
            default: try reader.skipValue()
            }
        }
        self.id = try JSONReader.required(id, "id")
        self.quantity = try JSONReader.required(quantity, "quantity")
    }
}

// MARK: - Order

/// `index {"order":"o-17"}`.
struct IndexArguments: Decodable, Equatable, JSONReadable {
    var order: String

    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var order: String?
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            switch key {
            case "order": try reader.first(&order)
            default: try reader.skipValue()
            }
        }
        self.order = try JSONReader.required(order, "order")
    }
}

/// `place {"customer":"42","quantity":2,"symbol":"AAPL"}`.
struct PlaceArguments: Decodable, Equatable, JSONReadable {
    var customer: String
    var quantity: Int64
    var symbol: String

    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var customer: String?
        var quantity: Int64?
        var symbol: String?
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            switch key {
            case "customer": try reader.first(&customer)
            case "quantity": try reader.first(&quantity)
            case "symbol": try reader.first(&symbol)
            default: try reader.skipValue()
            }
        }
        self.customer = try JSONReader.required(customer, "customer")
        self.quantity = try JSONReader.required(quantity, "quantity")
        self.symbol = try JSONReader.required(symbol, "symbol")
    }
}
