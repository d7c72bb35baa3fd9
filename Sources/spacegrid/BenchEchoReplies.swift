import GridClient
import GridCore
import GridWire
import ZeroMQ

/// What the relay's echo workers answer: per operation, a payload the size of
/// the grid's typical reply to it, and the grid's meta frame (version and unit).
struct BenchEchoReplies: Sendable {
    /// Payloads by operation name, as bytes (the operation frame of a request).
    private let payloads: [(operation: [UInt8], payload: [UInt8])]
    /// The meta frame of a reply (8-byte version and the unit's name).
    let meta: [UInt8]

    /// How many requests of the workload `sample` sends to the grid.
    static let sampleSize = 64

    init(payloads: [String: [UInt8]], meta: [UInt8]) {
        self.payloads = payloads.sorted { $0.key < $1.key }.map { (Array($0.key.utf8), $0.value) }
        self.meta = meta
    }

    /// Payload bytes per operation, for the report.
    var sizes: [String: Int] {
        Dictionary(uniqueKeysWithValues: payloads.map { (String(decoding: $0.operation, as: UTF8.self), $0.payload.count) })
    }

    /// The payload for a request whose operation frame is `operation` (empty for one the workload does not send).
    func payload(for operation: [UInt8]) -> [UInt8] {
        for entry in payloads where entry.operation == operation { return entry.payload }
        return []
    }

    /// Sends `sampleSize` requests of the workload to the grid, pipelined, from the
    /// calling thread, and keeps per operation the reply of median payload size.
    ///
    /// Run after the preload, so `get` reads stored values. The requests are real:
    /// `put` overwrites, `trade` moves a cent, `place` places an order (under
    /// connection number `connections`, which no loop uses, so ids do not collide).
    static func sample(plan: BenchPlan, context: Context) -> BenchEchoReplies {
        let operations = plan.workload.operations
        var sizes: [[GridReply]] = Array(repeating: [], count: operations.count)
        do {
            let connection = try GridConnection(context: context, endpoint: plan.endpoint)
            defer { connection.close() }
            var random = SplitMix64(seed: plan.seed ^ 0x5A3D_1E5E_ED00_0001)
            var kinds: [UInt64: Int] = [:]
            for sequence in 0..<sampleSize {
                let key = plan.distribution.next(&random)
                let request = plan.workload.request(key, &random, BenchOrigin(connection: plan.connections, sequence: sequence))
                let correlation = try connection.send(plan.section, request.operation, key: request.key, arguments: request.arguments)
                kinds[correlation] = request.kind
            }
            let deadline = BenchClock.nanoseconds() + UInt64(plan.timeoutMilliseconds) * 1_000_000
            while !kinds.isEmpty, BenchClock.nanoseconds() < deadline {
                guard let (correlation, reply) = try connection.receive(timeoutMilliseconds: BenchLoop.sliceMilliseconds) else { continue }
                guard let kind = kinds.removeValue(forKey: correlation) else { continue }
                sizes[kind].append(reply)
            }
        } catch {
            // Without samples the workers answer with empty payloads; the report shows the sizes.
        }
        var payloads: [String: [UInt8]] = [:]
        var meta: [UInt8]?
        for (kind, name) in operations.enumerated() {
            let replies = sizes[kind].sorted { $0.payload.count < $1.payload.count }
            let median = replies.isEmpty ? nil : replies[replies.count / 2]
            payloads[name] = median?.payload ?? []
            if meta == nil, let median { meta = ReplyMeta(version: median.version, unit: median.unit).encoded }
        }
        return BenchEchoReplies(payloads: payloads, meta: meta ?? ReplyMeta().encoded)
    }
}
