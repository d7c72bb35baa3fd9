/// The order section's index and its reply in JSON (see `OrderSection.swift` for their shape).

extension OrderIndexValue: JSONReadable, JSONWritable {
    init(json reader: inout JSONReader) throws(JSONReader.Failure) {
        var customer: String?
        var orders: [String]?
        try reader.readObject { reader, key throws(JSONReader.Failure) in
            switch key {
            case "customer": try reader.first(&customer)
            case "orders": try reader.first(&orders)
            default: try reader.skipValue()
            }
        }
        self.init(customer: try JSONReader.required(customer, "customer"), orders: try JSONReader.required(orders, "orders"))
    }

    func write(to json: inout JSONWriter) {
        json.beginObject()
        json.field("customer", customer)
        json.field("orders", orders)
        json.endObject()
    }
}

extension OrderIndex {
    /// `{"count":N,"customer":"42"}`: the reply of `index`.
    struct IndexReply: Encodable, JSONWritable {
        var count: Int
        var customer: String

        func write(to json: inout JSONWriter) {
            json.beginObject()
            json.field("count", Int64(count))
            json.field("customer", customer)
            json.endObject()
        }
    }
}
