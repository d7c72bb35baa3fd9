#if canImport(Glibc)
import Glibc
#endif

/// Who a process is on a CURVE-secured grid: the key pair it presents, and the public key of
/// the grid's servers (the broker and units share one pair, the grid's identity).
///
/// It lives on the `Context`, so every socket of the grid made from that context is secured
/// the same way without each call site carrying keys.
public struct CurveIdentity: Sendable, Equatable {
    /// The pair this process presents: the grid's on a broker or unit, its own on a client.
    public var keys: CurveKeyPair
    /// The servers' public key, which every connection checks.
    public var serverKey: String

    public init(keys: CurveKeyPair, serverKey: String) {
        self.keys = keys
        self.serverKey = serverKey
    }

    /// Whether this process holds the servers' pair (it may bind).
    public var isServer: Bool { keys.publicKey == serverKey }

    /// Makes `socket` a CURVE server (before it binds). A process without the servers' pair
    /// cannot serve: refused with EACCES rather than serving under a key nobody trusts.
    public func serve(_ socket: Socket) throws(ZMQError) {
        guard isServer else { throw ZMQError(call: "curve server (this process lacks the grid's key pair)", errno: EACCES) }
        try socket.makeCurveServer(keys)
    }

    /// Makes `socket` a CURVE client of the grid's servers (before it connects).
    public func connect(_ socket: Socket) throws(ZMQError) {
        try socket.makeCurveClient(keys, serverKey: serverKey)
    }
}
