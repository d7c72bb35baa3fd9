/// The order workflow's entry, step arguments and replies in JSON (see `OrderWorkflow.swift` for their shape).

extension OrderValue: JSONReadable, JSONWritable {
    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var amount: Int64??
        var customer: String?
        var id: String?
        var price: Int64??
        var quantity: Int64?
        var reason: String??
        var state: State?
        var stepsDone: [String]??
        var symbol: String?
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            switch key {
            case "amount": try reader.first(&amount)
            case "customer": try reader.first(&customer)
            case "id": try reader.first(&id)
            case "price": try reader.first(&price)
            case "quantity": try reader.first(&quantity)
            case "reason": try reader.first(&reason)
            case "state": try reader.first(&state)
            case "steps_done": try reader.first(&stepsDone)
            case "symbol": try reader.first(&symbol)
            default: try reader.skipValue()
            }
        }
        self.init(amount: amount ?? nil, customer: try JSONReader.required(customer, "customer"), id: try JSONReader.required(id, "id"),
                  price: price ?? nil, quantity: try JSONReader.required(quantity, "quantity"), reason: reason ?? nil,
                  state: try JSONReader.required(state, "state"), stepsDone: stepsDone ?? nil, symbol: try JSONReader.required(symbol, "symbol"))
    }

    func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("amount", amount)
        json.field("customer", customer)
        json.field("id", id)
        json.field("price", price)
        json.field("quantity", quantity)
        json.field("reason", reason)
        json.field("state", state.rawValue)
        json.field("steps_done", stepsDone)
        json.field("symbol", symbol)
        json.endObject()
    }
}

extension OrderValue.State: JSONReadable {
    /// A state's name; another string is an `invalidValue`.
    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        let offset = reader.offset
        guard let state = Self(rawValue: try reader.string()) else { throw .invalidValue(at: offset) }
        self = state
    }
}

extension OrderWorkflow {
    /// What the workflow reads of `product.reserve`'s reply: the price reserved at.
    struct ReserveReply: Decodable, JSONReadable {
        var price: Int64

        init(json reader: inout JSONReader) throws(JSONReader.Failure) {
            var price: Int64?
            try reader.readObject { reader, key throws(JSONReader.Failure) in
                switch key {
                case "price": try reader.first(&price)
                default: try reader.skipValue()
                }
            }
            self.price = try JSONReader.required(price, "price")
        }
    }

    /// The arguments of a step: the fields it needs, the others left out.
    struct StepArguments: Encodable, JSONWritable {
        var amount: Int64?
        var id: String?
        var order: String?
        var quantity: Int64?

        func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("amount", amount)
            json.field("id", id)
            json.field("order", order)
            json.field("quantity", quantity)
            json.endObject()
        }
    }

    /// `{"amount":A,"order":"o-17","price":P,"status":"placed"}`.
    struct PlacedReply: Encodable, JSONWritable {
        var amount: Int64
        var order: String
        var price: Int64
        var status = "placed"

        func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("amount", amount)
            json.field("order", order)
            json.field("price", price)
            json.field("status", status)
            json.endObject()
        }
    }

    /// `{"code":R,"message":"...","order":"o-17","reason":R,"status":"failed"}`.
    struct FailedReply: Encodable, JSONWritable {
        var code: String
        var message: String
        var order: String
        var reason: String
        var status = "failed"

        func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("code", code)
            json.field("message", message)
            json.field("order", order)
            json.field("reason", reason)
            json.field("status", status)
            json.endObject()
        }
    }
}
