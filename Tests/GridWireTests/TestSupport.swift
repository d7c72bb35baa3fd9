import GridCore

/// Bytes written out as hex pairs, optionally separated by spaces: `hex("4d 44 50")`.
/// Golden tests spell every frame this way so the encoder never produces its own expectation.
func hex(_ text: String) -> [UInt8] {
    let digits = text.filter { !$0.isWhitespace }
    precondition(digits.count % 2 == 0, "odd hex: \(text)")
    var out: [UInt8] = []
    var index = digits.startIndex
    while index < digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        out.append(UInt8(digits[index..<next], radix: 16)!)
        index = next
    }
    return out
}

/// The UTF-8 bytes of a string (for inputs only; expected frames are spelled in hex).
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Frequently used frames, in hex.
enum Golden {
    static let mdpc01 = hex("4d 44 50 43 30 31")          // "MDPC01"
    static let sgc01 = hex("53 47 43 30 31")              // "SGC01" (retired)
    static let sgc02 = hex("53 47 43 30 32")              // "SGC02"
    static let sgd02 = hex("53 47 44 30 32")              // "SGD02"
    static let sgp02 = hex("53 47 50 30 32")              // "SGP02"
    static let mdpw01 = hex("4d 44 50 57 30 31")          // "MDPW01"
    static let customer = hex("63 75 73 74 6f 6d 65 72")  // "customer"
    static let customer1 = hex("63 75 73 74 6f 6d 65 72 2d 31") // "customer-1"
    static let get = hex("67 65 74")                      // "get"
    static let put = hex("70 75 74")                      // "put"
    static let key42 = hex("34 32")                       // "42"
    static let balance = hex("7b 22 62 61 6c 61 6e 63 65 22 3a 31 30 30 7d") // {"balance":100}
    static let correlation7 = hex("00 00 00 00 00 00 00 07")
    static let mmiService = hex("6d 6d 69 2e 73 65 72 76 69 63 65") // "mmi.service"
    /// A request id frame: sequence 5, floor 3, client "app-1".
    static let rid = hex("00 00 00 00 00 00 00 05  00 00 00 00 00 00 00 03  61 70 70 2d 31")
    static let ridValue = RequestID(client: Array("app-1".utf8), sequence: 5, floor: 3)
    /// The same id as MDP's optional frame: "RID:" then the id.
    static let mdpRID = hex("52 49 44 3a") + rid
}
