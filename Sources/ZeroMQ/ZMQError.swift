import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A failed libzmq call: which call, the errno it left, and libzmq's text for it.
public struct ZMQError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The libzmq function that failed, such as `zmq_bind`.
    public let call: String
    /// The errno value libzmq reported.
    public let errno: Int32
    /// `zmq_strerror(errno)`.
    public let message: String

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
        self.message = String(cString: zmq_strerror(errno))
    }

    /// Captures the current errno after a failing `call`.
    static func last(_ call: String) -> ZMQError {
        ZMQError(call: call, errno: zmq_errno())
    }

    public var description: String { "\(call) failed: \(message) (errno \(errno))" }

    /// The context was terminated while the call waited.
    public var isTerminated: Bool { errno == ETERM }
}
