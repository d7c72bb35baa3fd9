import ArgumentParser
import Foundation
import GridClient
import GridRuntime
import GridTopology
import Logging
import Synchronization
import ZeroMQ

/// A process's side of the topology's `security`: the context its grid sockets come from
/// (carrying its CURVE identity) and, for the broker and units, the ZAP handler that admits
/// only the key folder's public keys.
///
/// The handler is bound before anything else on the context: libzmq lets every CURVE client
/// in while no ZAP handler is bound.
final class GridSecurity {
    let context: Context
    let zap: ZAPHandler?

    /// Handshakes the ZAP handler refused so far.
    var refusedKeys: (@Sendable () -> UInt64)? {
        guard let zap else { return nil }
        return { zap.refused }
    }

    /// No security: a plain context.
    init() {
        context = Context()
        zap = nil
    }

    /// - Parameters:
    ///   - server: the process binds sockets (broker, unit): it presents the grid's pair and
    ///     runs the ZAP handler. Otherwise it presents the first of `clientKeys` the folder
    ///     holds a pair of (the mirror: `mirror`, then `grid`).
    init(topology: Topology, server: Bool, clientKeys: [String] = [], logger: Logger) throws {
        guard let security = topology.security else {
            context = Context()
            zap = nil
            return
        }
        let folder = KeyFolder(path: security.keys)
        let serverKey = try folder.publicKey(named: KeyFolder.serverKeyName)
        let name = server ? KeyFolder.serverKeyName : clientKeys.first { folder.hasKeyPair(named: $0) } ?? clientKeys.first ?? KeyFolder.serverKeyName
        let keys = try folder.keyPair(named: name)
        context = Context(curve: CurveIdentity(keys: keys, serverKey: serverKey))
        guard server else {
            zap = nil
            return
        }
        // The grid's own key is always allowed: units connect to each other and to the broker with it.
        let allowed: @Sendable () -> Set<String> = { folder.allowedKeys().union([serverKey]) }
        // A refused peer retries every reconnect interval: each key is logged once a minute at most.
        let refusals = RefusalLog()
        do {
            zap = try ZAPHandler(context: context, allowList: CurveAllowList(keys: allowed(), reload: allowed)) { address, key in
                guard refusals.due(key) else { return }
                logger.warning("refused a connection: its CURVE key is not in the key folder", metadata: [
                    "address": "\(address)", "key": "\(key.isEmpty ? "(none: not CURVE)" : key)", "keys": "\(security.keys)",
                ])
            }
        } catch {
            throw KeyFileError("cannot start the CURVE handler (ZAP): \(error)")
        }
    }

    /// Stops the ZAP handler (before the context ends).
    func stop() {
        zap?.stop()
    }
}

/// When each refused key was last logged.
private final class RefusalLog: Sendable {
    private let lastLogged = Mutex<[String: ContinuousClock.Instant]>([:])

    /// Whether `key`'s refusal is to be logged now (and notes that it was).
    func due(_ key: String) -> Bool {
        let now = ContinuousClock.now
        return lastLogged.withLock { logged in
            if let last = logged[key], now - last < .seconds(60) { return false }
            logged[key] = now
            return true
        }
    }
}
