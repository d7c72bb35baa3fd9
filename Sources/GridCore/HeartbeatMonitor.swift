/// Failure detection: a peer is dead when nothing was heard from it for
/// `liveness` heartbeat intervals (7/MDP: any command counts as a heartbeat).
///
/// Time is passed in (milliseconds on a monotonic clock), so tests drive it.
public struct HeartbeatMonitor: Sendable {
    public let intervalMilliseconds: UInt64
    public let liveness: UInt64
    private var lastHeard: [String: UInt64] = [:]

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
    public mutating func onTick(now: UInt64) -> [String] {
        let dead = lastHeard.filter { now >= $0.value && now - $0.value > expiryMilliseconds }.map(\.key).sorted()
        for peer in dead { lastHeard[peer] = nil }
        return dead
    }
}
