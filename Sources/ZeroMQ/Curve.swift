import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A CURVE key pair, both keys in Z85 (40 characters each).
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: String
    public let secretKey: String

    public init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A fresh pair from libzmq (`zmq_curve_keypair`, from the system's random source).
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else { throw .last("zmq_curve_keypair") }
        return CurveKeyPair(publicKey: Z85.string(publicKey), secretKey: Z85.string(secretKey))
    }

    /// The public key that belongs to a Z85 secret key; nil when it is not Z85 of 32 bytes.
    public static func publicKey(ofSecret secretKey: String) -> String? {
        guard Z85.decode(secretKey) != nil else { return nil }
        var publicKey = [CChar](repeating: 0, count: 41)
        let rc = secretKey.withCString { zmq_curve_public(&publicKey, $0) }
        return rc == 0 ? Z85.string(publicKey) : nil
    }
}

/// ZeroMQ's Z85 text form of binary keys (RFC 32): 32 bytes are 40 printable characters.
public enum Z85 {
    /// The 85 characters of Z85, in value order.
    static let alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    /// 32 bytes as 40 characters.
    public static func encode(_ bytes: [UInt8]) -> String {
        precondition(bytes.count % 4 == 0, "Z85 encodes multiples of 4 bytes")
        var text = [CChar](repeating: 0, count: bytes.count * 5 / 4 + 1)
        _ = zmq_z85_encode(&text, bytes, bytes.count)
        return string(text)
    }

    /// 40 characters as 32 bytes; nil for any other length or a character outside Z85.
    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count == 40, utf8.allSatisfy({ alphabet.contains($0) }) else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        let decoded = text.withCString { zmq_z85_decode(&bytes, $0) }
        return decoded == nil ? nil : bytes
    }

    static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Socket {
    /// Makes the socket a CURVE server with `keys` (before it binds). The ZAP domain makes
    /// libzmq put every handshake to the process's `ZAPHandler`.
    public func makeCurveServer(_ keys: CurveKeyPair) throws(ZMQError) {
        guard let secret = Z85.decode(keys.secretKey) else { throw ZMQError(call: "curve server key (not Z85)", errno: EINVAL) }
        try setOption(ZMQ_CURVE_SERVER, Int32(1))
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: secret)
        try setOption(ZMQ_ZAP_DOMAIN, bytes: Array(ZAPHandler.domain.utf8))
    }

    /// Makes the socket a CURVE client presenting `keys`, trusting only the server whose
    /// public key is `serverKey` (before it connects).
    public func makeCurveClient(_ keys: CurveKeyPair, serverKey: String) throws(ZMQError) {
        guard let server = Z85.decode(serverKey), let publicKey = Z85.decode(keys.publicKey), let secret = Z85.decode(keys.secretKey) else {
            throw ZMQError(call: "curve client keys (not Z85)", errno: EINVAL)
        }
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: server)
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: publicKey)
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: secret)
    }
}
