import ArgumentParser
import GridCore

// MARK: - Workloads

/// One request a benchmark sends: the operation, the key and the arguments after it.
struct BenchRequest {
    var operation: String
    var key: [UInt8]
    var arguments: [[UInt8]]
    /// Which of the workload's `operations` this is (its replies are counted under that name).
    var kind = 0
}

/// Where a request comes from: the connection that sends it and how many
/// requests that connection sent before it in this run (unique keys are built from both).
struct BenchOrigin {
    var connection: Int
    var sequence: Int
}

/// What a benchmark does, as a small value: its name, the puts that must
/// store its keys first (if any), and how it builds each request from a key number.
///
/// A new workload (`cas`, another domain operation) is one more static
/// constructor and one more case of `BenchWorkloadName`; the loops, timing and
/// report stay as they are.
struct BenchWorkload: Sendable {
    /// The name shown in the report (`get`, `put`).
    let name: String
    /// The operations the workload sends, by `BenchRequest.kind`; replies are counted per operation.
    var operations: [String]
    /// The section the workload always runs against (`trade`: customer); nil for the one given with --section.
    var section: String? = nil
    /// Whether a 409 is a refusal the workload expects now and then (`insufficient_funds`,
    /// `out_of_stock`), counted as `refused` rather than as an error.
    var refusals = false
    /// The request that stores key number `key` before the run; nil when the run needs no data.
    let preload: (@Sendable (_ key: Int) -> BenchRequest)?
    /// Builds the request for key number `key` (0..<keys); `random` is the connection's own generator.
    let request: @Sendable (_ key: Int, _ random: inout SplitMix64, _ origin: BenchOrigin) -> BenchRequest

    /// The same requests with nothing stored first (for the relay, which stores nothing).
    var withoutPreload: BenchWorkload {
        BenchWorkload(name: name, operations: operations, section: section, refusals: refusals, preload: nil, request: request)
    }

    /// Reads random keys. Every key is stored by the preload first, so a 404 is an error.
    static func get(valueSize: Int) -> BenchWorkload {
        BenchWorkload(name: "get", operations: ["get"], preload: storing(valueSize: valueSize)) { key, _, _ in
            BenchRequest(operation: "get", key: BenchKeys.bytes(of: key), arguments: [])
        }
    }

    /// Gets and puts over the same keys: a get with probability `readPercent` in 100, else a put
    /// of a `valueSize`-byte value. Every key is stored by the preload first, so a 404 is an error.
    static func mixed(valueSize: Int, readPercent: Int) -> BenchWorkload {
        precondition((0...100).contains(readPercent), "a read percentage is between 0 and 100")
        let store = storing(valueSize: valueSize)
        return BenchWorkload(name: "mixed", operations: ["get", "put"], preload: store) { key, random, _ in
            if random.below(100) < readPercent {
                return BenchRequest(operation: "get", key: BenchKeys.bytes(of: key), arguments: [], kind: 0)
            }
            var request = store(key)
            request.kind = 1
            return request
        }
    }

    /// Overwrites random keys with a value of `valueSize` bytes.
    static func put(valueSize: Int) -> BenchWorkload {
        let store = storing(valueSize: valueSize)
        return BenchWorkload(name: "put", operations: ["put"], preload: nil) { key, _, _ in store(key) }
    }

    /// Puts of one `valueSize`-byte value, built once and shared by every request.
    private static func storing(valueSize: Int) -> @Sendable (Int) -> BenchRequest {
        let arguments = [BenchValue.make(size: valueSize)]
        return { key in BenchRequest(operation: "put", key: BenchKeys.bytes(of: key), arguments: arguments) }
    }

    /// `customer trade {"amount":1,"stock":"P<k>"}` by random account `key`, in a random product
    /// of `products`. One cent a trade, so the loaded balances last; a 409 `insufficient_funds` is a refusal.
    static func trade(products: Int) -> BenchWorkload {
        precondition(products > 0, "trade needs at least one product")
        // One arguments frame per product, built once.
        let frames = (0..<products).map { [Array(#"{"amount":1,"stock":""#.utf8) + LoadPlan.symbol($0) + Array(#""}"#.utf8)] }
        return BenchWorkload(name: "trade", operations: ["trade"], section: "customer", refusals: true, preload: nil) { key, random, _ in
            BenchRequest(operation: "trade", key: BenchKeys.bytes(of: key), arguments: frames[random.below(frames.count)])
        }
    }

    /// `order place {"customer":"<key>","symbol":"P<k>","quantity":1}` under a new order id
    /// `o-<connection>-<sequence>-<nonce>`: unique in the run, and across runs thanks to the
    /// run's random nonce (placing an existing order id again would only replay it).
    /// A 409 (`insufficient_funds`, `out_of_stock`) is a refusal.
    static func place(products: Int, nonce: String) -> BenchWorkload {
        precondition(products > 0, "place needs at least one product")
        let symbols = (0..<products).map { LoadPlan.symbol($0) }
        let nonceBytes = Array(nonce.utf8)
        let customerHead = Array(#"{"customer":""#.utf8)
        let symbolHead = Array(#"","symbol":""#.utf8)
        let tail = Array(#"","quantity":1}"#.utf8)
        return BenchWorkload(name: "place", operations: ["place"], section: "order", refusals: true, preload: nil) { key, random, origin in
            var orderID: [UInt8] = [UInt8(ascii: "o"), UInt8(ascii: "-")]
            orderID.reserveCapacity(40)
            orderID += BenchKeys.bytes(of: origin.connection)
            orderID.append(UInt8(ascii: "-"))
            orderID += BenchKeys.bytes(of: origin.sequence)
            orderID.append(UInt8(ascii: "-"))
            orderID += nonceBytes
            var arguments = customerHead
            arguments.reserveCapacity(64)
            arguments += BenchKeys.bytes(of: key)
            arguments += symbolHead
            arguments += symbols[random.below(symbols.count)]
            arguments += tail
            return BenchRequest(operation: "place", key: orderID, arguments: [arguments])
        }
    }
}

/// The workloads `spacegrid bench` knows, by the name given on the command line.
enum BenchWorkloadName: String, CaseIterable, ExpressibleByArgument {
    case get, put, mixed, trade, place

    /// Whether the workload runs over accounts and products (loaded first unless --no-load).
    var isTrading: Bool { self == .trade || self == .place }

    func workload(valueSize: Int, products: Int, readPercent: Int) -> BenchWorkload {
        switch self {
        case .get: .get(valueSize: valueSize)
        case .put: .put(valueSize: valueSize)
        case .mixed: .mixed(valueSize: valueSize, readPercent: readPercent)
        case .trade: .trade(products: products)
        case .place: .place(products: products, nonce: BenchNonce.make())
        }
    }
}

/// A run's random tag for the order ids of `place`: 8 base-36 characters,
/// independent of --seed so that a replayed key sequence still places new orders.
enum BenchNonce {
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        return String((0..<8).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }
}

// MARK: - Keys and values

/// Benchmark keys: the decimal strings "0" ... "K-1".
enum BenchKeys {
    /// The ASCII decimal digits of `key` (non-negative), without going through `String`.
    static func bytes(of key: Int) -> [UInt8] {
        precondition(key >= 0, "benchmark keys are non-negative")
        guard key > 0 else { return [UInt8(ascii: "0")] }
        var digits = 0
        var rest = key
        while rest > 0 { digits += 1; rest /= 10 }
        return [UInt8](unsafeUninitializedCapacity: digits) { buffer, count in
            var rest = key
            for index in stride(from: digits - 1, through: 0, by: -1) {
                buffer[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
            count = digits
        }
    }
}

/// Benchmark values: exactly `size` bytes of JSON.
enum BenchValue {
    /// `{"balance":12345,"pad":"xxxx..."}` padded to `size` bytes; smaller sizes
    /// get `{ ... }` padded with spaces, `0` for one byte and nothing for zero.
    static func make(size: Int) -> [UInt8] {
        precondition(size >= 0, "a value size is non-negative")
        let head = Array(#"{"balance":12345,"pad":""#.utf8)
        let tail = Array(#""}"#.utf8)
        if size >= head.count + tail.count {
            return head + [UInt8](repeating: UInt8(ascii: "x"), count: size - head.count - tail.count) + tail
        }
        switch size {
        case 0: return []
        case 1: return [UInt8(ascii: "0")]
        default: return [UInt8(ascii: "{")] + [UInt8](repeating: UInt8(ascii: " "), count: size - 2) + [UInt8(ascii: "}")]
        }
    }
}
