/// The product section's values and replies in JSON (see `ProductSection.swift` for their shape).

extension ProductValue: JSONReadable, JSONWritable {
    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var pending: [String: Reservation]??
        var price: Int64?
        var stock: Int64?
        var symbol: String??
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            switch key {
            case "pending": try reader.first(&pending)
            case "price": try reader.first(&price)
            case "stock": try reader.first(&stock)
            case "symbol": try reader.first(&symbol)
            default: try reader.skipValue()
            }
        }
        self.init(pending: pending ?? nil, price: try JSONReader.required(price, "price"),
                  stock: try JSONReader.required(stock, "stock"), symbol: symbol ?? nil)
    }

    func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("pending", pending)
        json.field("price", price)
        json.field("stock", stock)
        json.field("symbol", symbol)
        json.endObject()
    }
}

extension ProductValue.Reservation: JSONReadable, JSONWritable {
    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var price: Int64?
        var quantity: Int64?
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            switch key {
            case "price": try reader.first(&price)
            case "quantity": try reader.first(&quantity)
            default: try reader.skipValue()
            }
        }
        self.init(price: try JSONReader.required(price, "price"), quantity: try JSONReader.required(quantity, "quantity"))
    }

    func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("price", price)
        json.field("quantity", quantity)
        json.endObject()
    }
}

extension Product {
    /// `{"price":P,"stock":S,"symbol":"AAPL"}`: the reply of `quote`.
    struct QuoteReply: Encodable, JSONWritable {
        var price: Int64
        var stock: Int64
        var symbol: String

        func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("price", price)
            json.field("stock", stock)
            json.field("symbol", symbol)
            json.endObject()
        }
    }

    /// `{"price":P,"stock":S}`: the reply of `reserve`.
    struct ReserveReply: Encodable, JSONWritable {
        var price: Int64
        var stock: Int64

        func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("price", price)
            json.field("stock", stock)
            json.endObject()
        }
    }

    /// `{"stock":S}`: the reply of `release` and `commit`.
    struct StockReply: Encodable, JSONWritable {
        var stock: Int64

        func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("stock", stock)
            json.endObject()
        }
    }
}
