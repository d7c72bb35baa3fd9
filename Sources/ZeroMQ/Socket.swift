import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// The classic libzmq socket types SpaceGrid uses (no draft types: our libzmq has none).
public enum SocketType: Sendable {
    case router, dealer, pub, sub, req, rep, pair, push, pull

    var raw: Int32 {
        switch self {
        case .router: return ZMQ_ROUTER
        case .dealer: return ZMQ_DEALER
        case .pub: return ZMQ_PUB
        case .sub: return ZMQ_SUB
        case .req: return ZMQ_REQ
        case .rep: return ZMQ_REP
        case .pair: return ZMQ_PAIR
        case .push: return ZMQ_PUSH
        case .pull: return ZMQ_PULL
        }
    }
}

/// What became of a non-blocking multipart send.
public enum SendResult: Sendable, Equatable {
    /// Every frame was queued.
    case sent
    /// The peer's queue is full (high-water mark); nothing was queued.
    case wouldBlock
    /// A ROUTER with ROUTER_MANDATORY has no peer with that routing id; nothing was queued.
    case unroutable
}

/// One libzmq socket, owned by the thread that created it.
///
/// libzmq sockets are not thread-safe and a mutex does not make them so
/// (ZEROMQ.md, trap 4). `Socket` is therefore not `Sendable`; debug builds
/// also check at every send and receive that the calling thread is the owner.
public final class Socket {
    /// The raw handle, for `Poller`.
    let handle: UnsafeMutableRawPointer
    public let type: SocketType
    /// Kept so the context outlives its sockets: terminating a context with an
    /// open socket blocks forever (ZEROMQ.md, trap 7).
    private let context: Context
    private var closed = false
    #if DEBUG
    private let owner = pthread_self()
    #endif

    /// Creates a socket with a finite linger (so closing never hangs on undelivered messages).
    public init(_ context: Context, _ type: SocketType, linger: Int32 = 200) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, type.raw) else { throw .last("zmq_socket") }
        self.handle = handle
        self.type = type
        self.context = context
        try setOption(ZMQ_LINGER, linger)
    }

    deinit { close() }

    /// Closes the socket; later calls fail with ENOTSOCK. Idempotent.
    public func close() {
        guard !closed else { return }
        closed = true
        zmq_close(handle)
    }

    @inline(__always)
    private func checkOwner() {
        #if DEBUG
        precondition(pthread_equal(owner, pthread_self()) != 0, "a ZeroMQ socket was used from a thread that does not own it")
        #endif
    }

    // MARK: - Endpoints

    public func bind(_ endpoint: String) throws(ZMQError) {
        guard zmq_bind(handle, endpoint) == 0 else { throw .last("zmq_bind(\(endpoint))") }
    }

    public func connect(_ endpoint: String) throws(ZMQError) {
        guard zmq_connect(handle, endpoint) == 0 else { throw .last("zmq_connect(\(endpoint))") }
    }

    public func disconnect(_ endpoint: String) throws(ZMQError) {
        guard zmq_disconnect(handle, endpoint) == 0 else { throw .last("zmq_disconnect(\(endpoint))") }
    }

    /// The endpoint the socket last bound, with a wildcard port resolved (`tcp://127.0.0.1:*`).
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 512)
        var size = buffer.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { return "" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: - Options

    public func setOption(_ option: Int32, _ value: Int32) throws(ZMQError) {
        var value = value
        guard zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size) == 0 else {
            throw .last("zmq_setsockopt(\(option))")
        }
    }

    public func setOption(_ option: Int32, _ value: Int64) throws(ZMQError) {
        var value = value
        guard zmq_setsockopt(handle, option, &value, MemoryLayout<Int64>.size) == 0 else {
            throw .last("zmq_setsockopt(\(option))")
        }
    }

    public func setOption(_ option: Int32, bytes: [UInt8]) throws(ZMQError) {
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        guard rc == 0 else { throw .last("zmq_setsockopt(\(option))") }
    }

    /// Send and receive high-water marks (messages queued per peer before drops or EAGAIN).
    public func setHighWaterMarks(send: Int32, receive: Int32) throws(ZMQError) {
        try setOption(ZMQ_SNDHWM, send)
        try setOption(ZMQ_RCVHWM, receive)
    }

    /// A ROUTER reports EHOSTUNREACH for an unknown peer instead of dropping silently (trap 2).
    public func setRouterMandatory(_ on: Bool = true) throws(ZMQError) {
        try setOption(ZMQ_ROUTER_MANDATORY, Int32(on ? 1 : 0))
    }

    /// The routing id this socket presents to a ROUTER peer; set before connecting.
    public func setRoutingID(_ id: [UInt8]) throws(ZMQError) {
        try setOption(ZMQ_ROUTING_ID, bytes: id)
    }

    /// libzmq disconnects a peer that sends a frame larger than `bytes` (trap 10).
    public func setMaximumMessageSize(_ bytes: Int64) throws(ZMQError) {
        try setOption(ZMQ_MAXMSGSIZE, bytes)
    }

    public func subscribe(_ prefix: [UInt8]) throws(ZMQError) {
        try setOption(ZMQ_SUBSCRIBE, bytes: prefix)
    }

    public func unsubscribe(_ prefix: [UInt8]) throws(ZMQError) {
        try setOption(ZMQ_UNSUBSCRIBE, bytes: prefix)
    }

    /// Queue messages only to completed connections, so a request is not parked on a dead peer.
    public func setImmediate(_ on: Bool) throws(ZMQError) {
        try setOption(ZMQ_IMMEDIATE, Int32(on ? 1 : 0))
    }

    public func setReconnectInterval(milliseconds: Int32, maximum: Int32 = 0) throws(ZMQError) {
        try setOption(ZMQ_RECONNECT_IVL, milliseconds)
        try setOption(ZMQ_RECONNECT_IVL_MAX, maximum)
    }

    // MARK: - Sending

    /// Sends `frames` as one multipart message without blocking.
    ///
    /// libzmq queues a multipart message atomically: when the first frame is
    /// accepted, the rest are too, so `.wouldBlock` and `.unroutable` mean
    /// nothing was sent.
    public func send(_ frames: [[UInt8]]) throws(ZMQError) -> SendResult {
        try send(frames, blocking: false)
    }

    /// Sends `frames`, waiting for room when `blocking` (only for clients, never in a broker loop).
    public func send(_ frames: [[UInt8]], blocking: Bool) throws(ZMQError) -> SendResult {
        checkOwner()
        precondition(!frames.isEmpty, "a message has at least one frame")
        let last = frames.count - 1
        for index in 0...last {
            if let refused = try sendFrame(frames[index], first: index == 0, more: index < last, blocking: blocking) { return refused }
        }
        return .sent
    }

    /// Sends `head` (a routing id) and then `frames` as one message without
    /// building the joined array: a router forwards every message this way.
    public func send(_ head: [UInt8], _ frames: [[UInt8]]) throws(ZMQError) -> SendResult {
        checkOwner()
        if let refused = try sendFrame(head, first: true, more: !frames.isEmpty, blocking: false) { return refused }
        let last = frames.count - 1
        for index in frames.indices {
            _ = try sendFrame(frames[index], first: false, more: index < last, blocking: false)
        }
        return .sent
    }

    /// One frame; a refusal is only possible on the first frame (the rest are
    /// queued with it atomically), so later frames never return one.
    @inline(__always)
    private func sendFrame(_ frame: [UInt8], first: Bool, more: Bool, blocking: Bool) throws(ZMQError) -> SendResult? {
        var flags: Int32 = blocking ? 0 : ZMQ_DONTWAIT
        if more { flags |= ZMQ_SNDMORE }
        while true {
            let rc = frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
            if rc >= 0 { return nil }
            let error = zmq_errno()
            if error == EINTR { continue }
            if first && error == EAGAIN { return .wouldBlock }
            if first && error == EHOSTUNREACH { return .unroutable }
            throw ZMQError(call: "zmq_send", errno: error)
        }
    }

    // MARK: - Receiving

    /// Receives one whole multipart message, or nil when none is waiting (non-blocking).
    public func receive() throws(ZMQError) -> [[UInt8]]? {
        try receive(blocking: false)
    }

    /// Receives one whole multipart message; nil only when not `blocking` and none waits.
    ///
    /// Uses `zmq_msg_t`, so no frame is ever truncated (trap 6).
    public func receive(blocking: Bool) throws(ZMQError) -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        return try receive(into: &frames, blocking: blocking) ? frames : nil
    }

    /// Receives one whole multipart message into `frames` (emptied first, its
    /// capacity kept, so a loop reusing one array allocates only the frames);
    /// false when not `blocking` and none waits.
    public func receive(into frames: inout [[UInt8]], blocking: Bool = false) throws(ZMQError) -> Bool {
        checkOwner()
        frames.removeAll(keepingCapacity: true)
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        var flags: Int32 = blocking ? 0 : ZMQ_DONTWAIT
        while true {
            let rc = zmq_msg_recv(&message, handle, flags)
            if rc < 0 {
                let error = zmq_errno()
                if error == EINTR { continue }
                if error == EAGAIN && frames.isEmpty { return false }
                throw ZMQError(call: "zmq_msg_recv", errno: error)
            }
            let size = zmq_msg_size(&message)
            if size == 0 {
                frames.append([])
            } else {
                let data = zmq_msg_data(&message)!
                frames.append([UInt8](UnsafeRawBufferPointer(start: data, count: size)))
            }
            if zmq_msg_more(&message) == 0 { return true }
            // The remaining frames of a multipart message are already here.
            flags = 0
        }
    }
}

@available(*, unavailable, message: "a ZeroMQ socket is owned by one thread")
extension Socket: Sendable {}
