import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// `zmq_poll` over a fixed set of sockets (our libzmq has no draft `zmq_poller_*`).
///
/// Like its sockets, a poller belongs to one thread. Readiness is level
/// triggered here, but a loop should still drain each readable socket, a
/// bounded number of messages per wake-up, so one busy peer cannot starve the rest.
public struct Poller {
    private var items: [zmq_pollitem_t] = []

    public init() {}

    /// Watches `socket` for incoming messages; returns its index.
    @discardableResult
    public mutating func add(_ socket: Socket, readable: Bool = true, writable: Bool = false) -> Int {
        var events: Int16 = 0
        if readable { events |= Int16(ZMQ_POLLIN) }
        if writable { events |= Int16(ZMQ_POLLOUT) }
        items.append(zmq_pollitem_t(socket: socket.handle, fd: 0, events: events, revents: 0))
        return items.count - 1
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever, 0: not at all); returns how many sockets are ready.
    @discardableResult
    public mutating func poll(timeoutMilliseconds: Int) throws(ZMQError) -> Int {
        while true {
            let rc = items.withUnsafeMutableBufferPointer {
                zmq_poll($0.baseAddress, Int32($0.count), timeoutMilliseconds)
            }
            if rc >= 0 { return Int(rc) }
            let error = zmq_errno()
            if error == EINTR { continue }
            throw ZMQError(call: "zmq_poll", errno: error)
        }
    }

    /// Whether the socket at `index` had a message waiting at the last poll.
    public func isReadable(_ index: Int) -> Bool {
        items[index].revents & Int16(ZMQ_POLLIN) != 0
    }

    public func isWritable(_ index: Int) -> Bool {
        items[index].revents & Int16(ZMQ_POLLOUT) != 0
    }
}
