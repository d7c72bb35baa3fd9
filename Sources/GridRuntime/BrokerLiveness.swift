#if canImport(Glibc)
import Glibc
#endif

/// Whether the broker still answers. `spacegrid up` asks it `grid ping` every second
/// and kills it when it has not answered for `limitMilliseconds`: a paused or wedged
/// broker keeps its ports bound, so without this nothing could replace it, and neither
/// routing nor failure detection would come back. A killed broker is restarted like any
/// child; its successor's generation outranks it.
///
/// Pure: the shell says what it sent, what came back and which process is the broker.
public struct BrokerLiveness: Sendable {
    /// How long the broker may go without answering.
    public let limitMilliseconds: UInt64
    /// How often it is asked.
    public let intervalMilliseconds: UInt64
    private var pid: pid_t?
    /// When the current broker last answered, or was first seen (a new one has the
    /// limit to start and bind before it must answer).
    private var heardAt: UInt64 = 0
    private var askedAt: UInt64?

    public init(limitMilliseconds: UInt64, intervalMilliseconds: UInt64 = 1_000) {
        self.limitMilliseconds = limitMilliseconds
        self.intervalMilliseconds = intervalMilliseconds
    }

    /// The limit for a topology's failure detection: ten times the time the broker itself
    /// gives a unit, and never under 5 s (a busy machine delays an answer, and a broker
    /// killed for nothing costs a restart).
    public static func limit(heartbeatMilliseconds: Int, liveness: Int) -> UInt64 {
        UInt64(max(5_000, heartbeatMilliseconds * liveness * 10))
    }

    /// Which process is the broker now (nil while it is down).
    public mutating func observe(pid: pid_t?, now: UInt64) {
        guard pid != self.pid else { return }
        self.pid = pid
        heardAt = now
        askedAt = nil
    }

    /// Whether to send a ping now.
    public func shouldAsk(now: UInt64) -> Bool {
        guard pid != nil else { return false }
        return askedAt.map { now - min(now, $0) >= intervalMilliseconds } ?? true
    }

    public mutating func asked(now: UInt64) { askedAt = now }

    /// The broker answered (any reply: it runs its loop).
    public mutating func answered(now: UInt64) { heardAt = max(heardAt, now) }

    /// The broker to kill: it has not answered for the limit.
    public func unresponsive(now: UInt64) -> pid_t? {
        guard let pid, now - min(now, heardAt) >= limitMilliseconds else { return nil }
        return pid
    }
}
