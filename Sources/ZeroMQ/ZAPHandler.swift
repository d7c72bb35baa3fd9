import CZeroMQ
import Foundation
import Synchronization

/// The public keys allowed to connect to a CURVE server. Thread-safe: the ZAP handler's
/// thread asks, anyone may add. An unknown key makes it ask `reload` (at most once a
/// second), so a key file added to the folder is admitted without a restart.
public final class CurveAllowList: Sendable {
    private let state: Mutex<(keys: Set<String>, reloadedAt: ContinuousClock.Instant?)>
    private let reload: (@Sendable () -> Set<String>)?

    public init(keys: Set<String>, reload: (@Sendable () -> Set<String>)? = nil) {
        state = Mutex((keys, nil))
        self.reload = reload
    }

    public var keys: Set<String> { state.withLock { $0.keys } }

    public func allows(_ publicKey: String) -> Bool {
        if state.withLock({ $0.keys.contains(publicKey) }) { return true }
        guard let reload else { return false }
        let now = ContinuousClock.now
        let due = state.withLock { current -> Bool in
            guard current.reloadedAt.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
            current.reloadedAt = now
            return true
        }
        guard due else { return false }
        let fresh = reload()
        state.withLock { $0.keys = fresh }
        return fresh.contains(publicKey)
    }
}

/// A ZAP handler (RFC 27/ZAP): admits a CURVE client when its public key is allowed, and
/// refuses (and counts) every other handshake on the context's CURVE servers.
///
/// It owns its thread and its REP socket on `inproc://zeromq.zap.01` (ZEROMQ.md, trap 4).
/// libzmq lets every CURVE client in while no handler is bound, so `init` returns only once
/// the socket is bound, and a process must make its handler before it binds a server.
public final class ZAPHandler: Sendable {
    /// The ZAP domain SpaceGrid's servers set (`makeCurveServer`).
    public static let domain = "spacegrid"
    static let endpoint = "inproc://zeromq.zap.01"

    private let refusedCount = Atomic<UInt64>(0)
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// Handshakes refused so far.
    public var refused: UInt64 { refusedCount.load(ordering: .relaxed) }

    /// Binds the handler on `context` and serves it on a thread of its own until `stop`.
    /// `onRefusal` hears each refused peer's address and key (Z85; empty for a non-CURVE peer).
    public init(context: Context, allowList: CurveAllowList,
                onRefusal: @escaping @Sendable (_ address: String, _ publicKey: String) -> Void = { _, _ in }) throws(ZMQError) {
        let bound = DispatchSemaphore(value: 0)
        let bindError = Mutex<ZMQError?>(nil)
        let thread = Thread { [self] in
            let socket: Socket
            do throws(ZMQError) {
                socket = try Socket(context, .rep, linger: 0)
                try socket.bind(Self.endpoint)
            } catch {
                bindError.withLock { $0 = error }
                bound.signal()
                finished.signal()
                return
            }
            bound.signal()
            serve(socket, allowList, onRefusal)
            socket.close()
            finished.signal()
        }
        thread.name = "zap"
        thread.start()
        bound.wait()
        if let error = bindError.withLock({ $0 }) { throw error }
    }

    /// Stops the thread and closes its socket (idempotent); before the context ends.
    public func stop() {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        finished.wait()
    }

    private func serve(_ socket: Socket, _ allowList: CurveAllowList, _ onRefusal: @Sendable (String, String) -> Void) {
        var poller = Poller()
        poller.add(socket)
        while !stopping.load(ordering: .relaxed) {
            do {
                // A short poll so `stop` is prompt.
                guard try poller.poll(timeoutMilliseconds: 100) > 0 else { continue }
                while let request = try socket.receive() {
                    _ = try socket.send(answer(request, allowList, onRefusal))
                }
            } catch {
                // ETERM: the context is ending; anything else would repeat: stop either way.
                return
            }
        }
    }

    /// The reply to one ZAP request: 200 for an allowed CURVE key, 400 for anything else.
    func answer(_ request: [[UInt8]], _ allowList: CurveAllowList, _ onRefusal: @Sendable (String, String) -> Void) -> [[UInt8]] {
        let version = Array("1.0".utf8)
        let requestID = request.count > 1 ? request[1] : []
        func reply(_ code: String, _ text: String, user: String = "") -> [[UInt8]] {
            [version, requestID, Array(code.utf8), Array(text.utf8), Array(user.utf8), []]
        }
        // version, request id, domain, address, routing id, mechanism, credentials...
        guard request.count >= 6, request[0] == version else {
            refusedCount.add(1, ordering: .relaxed)
            onRefusal("?", "")
            return reply("400", "malformed ZAP request")
        }
        let address = String(decoding: request[3], as: UTF8.self)
        let mechanism = String(decoding: request[5], as: UTF8.self)
        guard mechanism == "CURVE", request.count >= 7, request[6].count == 32 else {
            refusedCount.add(1, ordering: .relaxed)
            onRefusal(address, "")
            return reply("400", "CURVE required")
        }
        let key = Z85.encode(request[6])
        guard allowList.allows(key) else {
            refusedCount.add(1, ordering: .relaxed)
            onRefusal(address, key)
            return reply("400", "key not allowed")
        }
        return reply("200", "OK", user: key)
    }
}
