import GridCore
import GridWire
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A reply from the grid.
public struct GridReply: Sendable, Equatable {
    public var status: Status
    public var payload: [UInt8]
    /// The entry's version after the operation (0 when none).
    public var version: UInt64
    /// The unit that served the request (empty when the broker answered).
    public var unit: String

    public init(status: Status, payload: [UInt8], version: UInt64 = 0, unit: String = "") {
        self.status = status
        self.payload = payload
        self.version = version
        self.unit = unit
    }

    /// The error this reply carries, or nil when it is a success.
    public var error: GridError? { status.isSuccess ? nil : GridError(status: status, payload: payload) }

    /// The payload as text.
    public var text: String { String(decoding: payload, as: UTF8.self) }
}

/// One client connection to a grid's broker: a DEALER speaking the native
/// protocol, so many requests can be in flight at once.
///
/// Like its socket, a connection belongs to the thread that created it.
/// `call` does one request and waits; `send` and `receive` pipeline.
public final class GridConnection {
    public let endpoint: String
    private let socket: Socket
    /// Watches `socket`; made once, since `receive` runs for every reply.
    private var poller = Poller()
    private var nextCorrelation: UInt64 = 1
    /// Numbers requests and tells the grid which ones it may forget.
    public private(set) var requests = RequestNumbering()

    /// The default client endpoint: the default topology's.
    public static let defaultEndpoint = "tcp://127.0.0.1:5570"

    /// Connects to `endpoint` (`$SPACEGRID_BROKER` or the default when nil).
    public init(context: Context, endpoint: String? = nil) throws(ZMQError) {
        let resolved = endpoint ?? GridConnection.environmentEndpoint ?? GridConnection.defaultEndpoint
        self.endpoint = resolved
        socket = try Self.clientSocket(context, resolved)
        poller.add(socket)
    }

    /// A client's DEALER to a broker or unit: deep queues for pipelining, quick
    /// reconnects, and no linger (a closing client does not wait for its sends).
    public static func clientSocket(_ context: Context, _ endpoint: String) throws(ZMQError) -> Socket {
        let socket = try Socket(context, .dealer, linger: 0)
        try socket.setHighWaterMarks(send: 100_000, receive: 100_000)
        try socket.setReconnectInterval(milliseconds: 50, maximum: 1_000)
        try context.curve?.connect(socket)
        try socket.connect(endpoint)
        return socket
    }

    /// `SPACEGRID_BROKER` from the environment, when set.
    public static var environmentEndpoint: String? {
        guard let value = getenv("SPACEGRID_BROKER") else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    public func close() { socket.close() }

    // MARK: - One request at a time

    /// Sends one request and waits up to `timeoutMilliseconds` for its reply.
    ///
    /// A timeout comes back as a `504 timeout` reply, never as a thrown error: the grid may
    /// still have applied the request, and the caller decides. Sending it again with the
    /// same `requestID` applies it at most once (PROTOCOL.md 1.2).
    public func call(_ section: String, _ operation: String, key: String, arguments: [[UInt8]] = [], requestID: RequestID? = nil,
                     timeoutMilliseconds: Int = 5_000) throws(ZMQError) -> GridReply {
        let correlation = try send(section, operation, key: Array(key.utf8), arguments: arguments, requestID: requestID)
        let deadline = monotonicMilliseconds() + UInt64(max(0, timeoutMilliseconds))
        while true {
            let now = monotonicMilliseconds()
            guard now < deadline else { break }
            guard let (id, reply) = try receive(timeoutMilliseconds: Int(deadline - now)) else { break }
            if id == correlation { return reply }
            // A late reply to an earlier request that timed out: not ours.
        }
        requests.abandon(correlation)
        return GridReply(status: .timeout, payload: GridError(.timeout, "timeout", "no reply from \(endpoint) within \(timeoutMilliseconds) ms").payload)
    }

    // MARK: - Pipelining

    /// Sends a request without waiting; returns its correlation id. Without a `requestID`
    /// the request is this connection's next (its id: the connection's client id and the
    /// correlation), and `requestID(of:)` gives it back for a retry.
    @discardableResult
    public func send(_ section: String, _ operation: String, key: [UInt8], arguments: [[UInt8]] = [], requestID: RequestID? = nil) throws(ZMQError) -> UInt64 {
        let correlation = nextCorrelation
        nextCorrelation &+= 1
        let id = requestID ?? requests.issue(correlation)
        let frames = ClientWire.encodeNativeRequest(correlation: ClientWire.correlation(correlation), requestID: id, section: section,
                                                    operation: operation, key: key, arguments: arguments)
        _ = try socket.send(frames, blocking: true)
        return correlation
    }

    /// The request id this connection gave the request sent under `correlation`.
    public func requestID(of correlation: UInt64) -> RequestID { requests.id(of: correlation) }

    /// Receives one reply, waiting up to `timeoutMilliseconds`; nil on timeout.
    public func receive(timeoutMilliseconds: Int) throws(ZMQError) -> (UInt64, GridReply)? {
        let deadline = monotonicMilliseconds() + UInt64(max(0, timeoutMilliseconds))
        while true {
            if let frames = try socket.receive() {
                guard let reply = ClientWire.decodeNativeReply(frames), let correlation = ClientWire.correlationValue(reply.correlation) else { continue }
                requests.answered(correlation)
                let result = GridReply(status: reply.status, payload: reply.payload, version: reply.meta.version, unit: reply.meta.unit)
                return (correlation, result)
            }
            let now = monotonicMilliseconds()
            guard now < deadline else { return nil }
            try poller.poll(timeoutMilliseconds: Int(deadline - now))
        }
    }
}

/// Milliseconds on the monotonic clock.
public func monotonicMilliseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000 + UInt64(spec.tv_nsec) / 1_000_000
}
