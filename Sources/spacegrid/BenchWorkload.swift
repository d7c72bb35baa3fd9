import ArgumentParser
import GridCore

// MARK: - Workloads

/// One request a benchmark sends: the operation, the key and the arguments after it.
struct BenchRequest {
    var operation: String
    var key: [UInt8]
    var arguments: [[UInt8]]
}

/// What a benchmark does, as a small value: its name, the puts that must
/// store its keys first (if any), and how it builds each request from a key number.
///
/// A new workload (a mix of reads and writes, `cas`, a domain operation such
/// as `customer.trade`) is one more static constructor and one more case of
/// `BenchWorkloadName`; the closed loop, timing and report stay as they are.
struct BenchWorkload: Sendable {
    /// The name shown in the report (`get`, `put`).
    let name: String
    /// The request that stores key number `key` before the run; nil when the run needs no data.
    let preload: (@Sendable (_ key: Int) -> BenchRequest)?
    /// Builds the request for key number `key` (0..<keys); `random` is the connection's own generator.
    let request: @Sendable (_ key: Int, _ random: inout SplitMix64) -> BenchRequest

    /// Reads random keys. Every key is stored by the preload first, so a 404 is an error.
    static func get(valueSize: Int) -> BenchWorkload {
        BenchWorkload(name: "get", preload: storing(valueSize: valueSize)) { key, _ in
            BenchRequest(operation: "get", key: BenchKeys.bytes(of: key), arguments: [])
        }
    }

    /// Overwrites random keys with a value of `valueSize` bytes.
    static func put(valueSize: Int) -> BenchWorkload {
        let store = storing(valueSize: valueSize)
        return BenchWorkload(name: "put", preload: nil) { key, _ in store(key) }
    }

    /// Puts of one `valueSize`-byte value, built once and shared by every request.
    private static func storing(valueSize: Int) -> @Sendable (Int) -> BenchRequest {
        let arguments = [BenchValue.make(size: valueSize)]
        return { key in BenchRequest(operation: "put", key: BenchKeys.bytes(of: key), arguments: arguments) }
    }
}

/// The workloads `spacegrid bench` knows, by the name given on the command line.
enum BenchWorkloadName: String, CaseIterable, ExpressibleByArgument {
    case get, put

    func workload(valueSize: Int) -> BenchWorkload {
        switch self {
        case .get: .get(valueSize: valueSize)
        case .put: .put(valueSize: valueSize)
        }
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
