import CZeroMQ

/// A libzmq context: the I/O threads and the `inproc://` namespace.
///
/// The context itself is thread-safe (libzmq guarantees it), so it is
/// `Sendable`; the sockets made from it are not.
public final class Context: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    /// The CURVE identity every grid socket made from this context uses (nil: no security).
    public let curve: CurveIdentity?

    /// Creates a context with `ioThreads` background I/O threads; with `curve`, the grid's
    /// sockets made from it are CURVE servers and clients.
    public init(ioThreads: Int32 = 1, curve: CurveIdentity? = nil) {
        self.curve = curve
        guard let handle = zmq_ctx_new() else {
            // Only fails when the process runs out of file descriptors or memory.
            fatalError("zmq_ctx_new failed: \(ZMQError.last("zmq_ctx_new"))")
        }
        self.handle = handle
        if ioThreads != 1 { zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads) }
    }

    /// Makes every blocking call on this context's sockets return ETERM.
    /// Sockets must still be closed by their owning threads.
    public func shutdown() {
        zmq_ctx_shutdown(handle)
    }

    deinit {
        // Blocks until every socket is closed; sockets close with a finite linger.
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    /// libzmq's version as (major, minor, patch).
    public static var version: (Int, Int, Int) {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (Int(major), Int(minor), Int(patch))
    }
}
