/// The customer section's values and replies in JSON (see `CustomerSection.swift` for their shape).

extension Account: JSONReadable, JSONWritable {
    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var balance: Int64?
        var pending: [String: Int64]??
        var trades: [Trade]??
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            switch key {
            case "balance": try reader.first(&balance)
            case "pending": try reader.first(&pending)
            case "trades": try reader.first(&trades)
            default: try reader.skipValue()
            }
        }
        self.init(balance: try JSONReader.required(balance, "balance"), pending: pending ?? nil, trades: trades ?? nil)
    }

    func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("balance", balance)
        json.field("pending", pending)
        json.field("trades", trades)
        json.endObject()
    }

    var estimatedJSONSize: Int { 64 + 40 * (pending?.count ?? 0) + 40 * (trades?.count ?? 0) }
}

extension Account.Trade: JSONReadable, JSONWritable {
    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var amount: Int64?
        var stock: String?
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            switch key {
            case "amount": try reader.first(&amount)
            case "stock": try reader.first(&stock)
            default: try reader.skipValue()
            }
        }
        self.init(amount: try JSONReader.required(amount, "amount"), stock: try JSONReader.required(stock, "stock"))
    }

    func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("amount", amount)
        json.field("stock", stock)
        json.endObject()
    }
}

extension Customer {
    /// `{"balance":N}`: the reply of `deposit`, `debit`, `credit`, `refund` and `commit`.
    struct BalanceReply: Encodable, JSONWritable {
        var balance: Int64

        func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("balance", balance)
            json.endObject()
        }
    }

    /// `{"balance":N,"status":"success"}`: the reply of `trade`.
    struct TradeReply: Encodable, JSONWritable {
        var balance: Int64
        var status = "success"

        func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("balance", balance)
            json.field("status", status)
            json.endObject()
        }
    }
}
