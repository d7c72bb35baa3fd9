import GridClient
import GridCore
import GridWire
import ZeroMQ

/// One bench connection to a broker (or to the relay): a DEALER speaking the
/// native protocol exactly as `GridConnection` does, but with its socket in
/// reach of the driver thread's `Poller`, so one thread can wait on many
/// connections in one zmq_poll.
///
/// Like its socket, a link belongs to the driver thread that created it.
final class BenchLink: PipelinedConnection {
    /// The socket, for the driver's `Poller`.
    let socket: Socket
    private var nextCorrelation: UInt64 = 1
    /// Request ids, as every grid client sends them.
    private var requests = RequestNumbering()
    /// Reused by every receive, so a reply allocates only its frames.
    private var frames: [[UInt8]] = []
    /// Watches `socket` alone, for the rare blocking `receive(timeoutMilliseconds:)`.
    private var poller = Poller()

    /// Connects to `endpoint` with GridConnection's socket options.
    init(context: Context, endpoint: String) throws(ZMQError) {
        socket = try GridConnection.clientSocket(context, endpoint)
        poller.add(socket)
    }

    func close() { socket.close() }

    /// Sends a request without waiting; returns its correlation id.
    func send(_ section: String, _ operation: String, key: [UInt8], arguments: [[UInt8]], requestID: RequestID? = nil) throws(ZMQError) -> UInt64 {
        let correlation = nextCorrelation
        nextCorrelation &+= 1
        let frames = ClientWire.encodeNativeRequest(correlation: ClientWire.correlation(correlation), requestID: requestID ?? requests.issue(correlation),
                                                    section: section, operation: operation, key: key, arguments: arguments)
        _ = try socket.send(frames, blocking: true)
        return correlation
    }

    /// One reply that is waiting, without waiting; nil when none is. Skips messages that are not native replies.
    func receive() throws(ZMQError) -> (UInt64, GridReply)? {
        while try socket.receive(into: &frames) {
            guard let reply = ClientWire.decodeNativeReply(frames), let correlation = ClientWire.correlationValue(reply.correlation) else { continue }
            requests.answered(correlation)
            return (correlation, GridReply(status: reply.status, payload: reply.payload, version: reply.meta.version, unit: reply.meta.unit))
        }
        return nil
    }

    /// Receives one reply, waiting up to `timeoutMilliseconds`; nil on timeout.
    func receive(timeoutMilliseconds: Int) throws(ZMQError) -> (UInt64, GridReply)? {
        let deadline = monotonicMilliseconds() + UInt64(max(0, timeoutMilliseconds))
        while true {
            if let reply = try receive() { return reply }
            let now = monotonicMilliseconds()
            guard now < deadline else { return nil }
            try poller.poll(timeoutMilliseconds: Int(deadline - now))
        }
    }
}
