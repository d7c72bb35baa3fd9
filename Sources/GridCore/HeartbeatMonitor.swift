/// Failure detection: a peer is dead when nothing was heard from it for
/// `liveness` heartbeat intervals (7/MDP: any command counts as a heartbeat).
///
/// Time is passed in (milliseconds on a monotonic clock), so tests drive it.
public struct HeartbeatMonitor: Sendable {
    public let intervalMilliseconds: UInt64
    public let liveness: UInt64
    private var lastHeard: [String: UInt64] = [:]
    /// When the observer last looked (`onTick`).
    private var lastTick: UInt64?

    public init(intervalMilliseconds: Int, liveness: Int) {
        self.intervalMilliseconds = UInt64(intervalMilliseconds)
        self.liveness = UInt64(liveness)
    }

    /// How long silence lasts before a peer is declared dead.
    public var expiryMilliseconds: UInt64 { intervalMilliseconds * liveness }

    public mutating func onHeard(_ peer: String, now: UInt64) {
        lastHeard[peer] = now
    }

    public mutating func forget(_ peer: String) {
        lastHeard[peer] = nil
    }

    public var peers: [String] { lastHeard.keys.sorted() }

    /// Removes and returns every peer silent for longer than the expiry, sorted by name.
    ///
    /// Silence while the observer itself was not looking (a tick more than an
    /// interval after the last one: its loop was busy or the process paused)
    /// is not held against peers: their messages of that time still wait in its
    /// queue. Otherwise one long stall of the broker would declare every unit dead.
    public mutating func onTick(now: UInt64) -> [String] {
        if let lastTick, now > lastTick + intervalMilliseconds {
            let away = now - lastTick - intervalMilliseconds
            for (peer, heard) in lastHeard { lastHeard[peer] = heard + away }
        }
        lastTick = now
        let dead = lastHeard.filter { now >= $0.value && now - $0.value > expiryMilliseconds }.map(\.key).sorted()
        for peer in dead { lastHeard[peer] = nil }
        return dead
    }
}
