/// A machine of the grid, as the topology's `hosts` names it: units placed on it bind and
/// advertise `address`, report `name`, and the broker keeps a partition's copies on
/// different hosts where it can.
public struct HostConfig: Sendable, Equatable {
    /// The host's name in the topology (`alpha`), what units report and `status` shows.
    public var name: String
    /// Where the other machines reach it: an IP address or a DNS name, no scheme, no port.
    public var address: String

    public init(name: String, address: String) {
        self.name = name
        self.address = address
    }
}

/// How the grid's sockets are secured, as the topology's `security` declares it.
public struct SecurityConfig: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        /// CURVE (libzmq's CurveZMQ): every connection encrypted, and only the public keys
        /// in the key folder may connect.
        case curve
    }

    public var mode: Mode
    /// The folder of key files (`KeyFolder`): absolute once loaded from a file, since
    /// the topology names it relative to the file itself.
    public var keys: String

    public init(mode: Mode, keys: String) {
        self.mode = mode
        self.keys = keys
    }
}
