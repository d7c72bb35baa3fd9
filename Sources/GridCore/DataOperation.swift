/// The data operations every section serves: `get`, `put`, `del`, `cas`.
///
/// Arguments (PROTOCOL.md, "Operations"): `get KEY`, `del KEY`, `put KEY VALUE`,
/// `cas KEY VERSION VALUE` where VERSION is ASCII decimal and 0 means "only if absent".
public enum DataOperation: String, Sendable, CaseIterable {
    case get, put, del, cas

    /// Parses an operation frame; runs for every request a unit serves, so it allocates nothing.
    public init?<Bytes: Collection>(name: Bytes) where Bytes.Element == UInt8 {
        guard name.count == 3 else { return nil }
        var iterator = name.makeIterator()
        let a = iterator.next()!, b = iterator.next()!, c = iterator.next()!
        switch (a, b, c) {
        case (0x67, 0x65, 0x74): self = .get  // "get"
        case (0x70, 0x75, 0x74): self = .put  // "put"
        case (0x64, 0x65, 0x6C): self = .del  // "del"
        case (0x63, 0x61, 0x73): self = .cas  // "cas"
        default: return nil
        }
    }

    /// Whether the operation may change the partition.
    public var writes: Bool { self != .get }

    /// Runs the operation against the partition it belongs to.
    public func execute(key: [UInt8], arguments: [[UInt8]], on store: inout PartitionStore) -> OperationOutcome {
        switch self {
        case .get:
            guard arguments.isEmpty else { return .failure(.badArguments("get takes no arguments after the key")) }
            guard let entry = store.get(key) else { return .failure(.notFound(key)) }
            return OperationOutcome(status: .ok, payload: entry.value, version: entry.version, change: nil)
        case .put:
            guard arguments.count == 1 else { return .failure(.badArguments("put takes exactly one value after the key")) }
            let change = store.put(key, arguments[0])
            return .written(change)
        case .del:
            guard arguments.isEmpty else { return .failure(.badArguments("del takes no arguments after the key")) }
            guard let change = store.delete(key) else { return .failure(.notFound(key)) }
            return .written(change)
        case .cas:
            guard arguments.count == 2 else { return .failure(.badArguments("cas takes a version and a value after the key")) }
            guard !arguments[0].isEmpty, arguments[0].allSatisfy({ $0 >= 48 && $0 <= 57 }),
                  let expected = UInt64(String(decoding: arguments[0], as: UTF8.self)) else {
                return .failure(.badArguments("cas version must be a decimal integer, got '\(String(decoding: arguments[0].prefix(40), as: UTF8.self))'"))
            }
            switch store.compareAndSet(key, expected: expected, arguments[1]) {
            case .success(let change): return .written(change)
            case .failure(let error): return .failure(error, version: store.get(key)?.version ?? 0)
            }
        }
    }
}

/// What an operation produced: the reply, and the change to replicate when it wrote.
public struct OperationOutcome: Sendable, Equatable {
    public var status: Status
    public var payload: [UInt8]
    /// The entry's version after the operation (0 when there is no entry).
    public var version: UInt64
    public var change: Change?

    public init(status: Status, payload: [UInt8], version: UInt64, change: Change?) {
        self.status = status
        self.payload = payload
        self.version = version
        self.change = change
    }

    /// A write's reply: 200 with the new version in ASCII decimal.
    public static func written(_ change: Change) -> OperationOutcome {
        OperationOutcome(status: .ok, payload: Array(String(change.version).utf8), version: change.version, change: change)
    }

    public static func failure(_ error: GridError, version: UInt64 = 0) -> OperationOutcome {
        OperationOutcome(status: error.status, payload: error.payload, version: version, change: nil)
    }
}
