import GridCore
import XCTest

/// Failure detection with time passed in.
final class HeartbeatMonitorTests: XCTestCase {
    func testExpiryIsIntervalTimesLiveness() {
        XCTAssertEqual(HeartbeatMonitor(intervalMilliseconds: 100, liveness: 3).expiryMilliseconds, 300)
        XCTAssertEqual(HeartbeatMonitor(intervalMilliseconds: 250, liveness: 4).expiryMilliseconds, 1_000)
    }

    func testSilentPastTheExpiryIsDeadExactlyOnce() {
        var monitor = HeartbeatMonitor(intervalMilliseconds: 100, liveness: 3)
        monitor.onHeard("a", now: 1_000)
        XCTAssertEqual(monitor.onTick(now: 1_300), [], "exactly the expiry is still alive")
        XCTAssertEqual(monitor.peers, ["a"])
        XCTAssertEqual(monitor.onTick(now: 1_301), ["a"])
        XCTAssertEqual(monitor.peers, [])
        XCTAssertEqual(monitor.onTick(now: 1_302), [])
        XCTAssertEqual(monitor.onTick(now: 99_999), [], "a dead peer is reported once")
    }

    func testHeardInTimeStaysAlive() {
        var monitor = HeartbeatMonitor(intervalMilliseconds: 100, liveness: 3)
        var now: UInt64 = 0
        monitor.onHeard("a", now: now)
        for _ in 0..<100 {
            now += 290
            XCTAssertEqual(monitor.onTick(now: now), [])
            monitor.onHeard("a", now: now)
        }
        XCTAssertEqual(monitor.peers, ["a"])
    }

    func testOnlySilentPeersDieAndInNameOrder() {
        var monitor = HeartbeatMonitor(intervalMilliseconds: 10, liveness: 2)
        for peer in ["c", "a", "b", "d"] { monitor.onHeard(peer, now: 0) }
        monitor.onHeard("b", now: 15)
        XCTAssertEqual(monitor.peers, ["a", "b", "c", "d"])
        XCTAssertEqual(monitor.onTick(now: 21), ["a", "c", "d"])
        XCTAssertEqual(monitor.peers, ["b"])
        XCTAssertEqual(monitor.onTick(now: 28), [])
        XCTAssertEqual(monitor.onTick(now: 36), ["b"])
    }

    func testTheObserversOwnStallIsNotHeldAgainstPeers() {
        var monitor = HeartbeatMonitor(intervalMilliseconds: 100, liveness: 3)
        monitor.onHeard("a", now: 0)
        monitor.onHeard("b", now: 0)
        XCTAssertEqual(monitor.onTick(now: 100), [])
        // The observer's loop was busy for 2 s: the peers' heartbeats of that time still wait in its queue.
        XCTAssertEqual(monitor.onTick(now: 2_100), [], "a stall of the observer kills no one")
        monitor.onHeard("a", now: 2_110)
        // Only silence while the observer looked counts (up to one interval of the stall itself):
        // b was silent 100 ms before it and is dead 200 ms after it.
        XCTAssertEqual(monitor.onTick(now: 2_200), [])
        XCTAssertEqual(monitor.onTick(now: 2_300), ["b"])
        XCTAssertEqual(monitor.peers, ["a"])
    }

    func testForgottenPeersAreNeverDeclaredDead() {
        var monitor = HeartbeatMonitor(intervalMilliseconds: 10, liveness: 2)
        monitor.onHeard("a", now: 0)
        monitor.forget("a")
        XCTAssertEqual(monitor.peers, [])
        XCTAssertEqual(monitor.onTick(now: 1_000), [])
    }

    func testAPeerHeardAgainAfterDyingIsTrackedAgain() {
        var monitor = HeartbeatMonitor(intervalMilliseconds: 10, liveness: 2)
        monitor.onHeard("a", now: 0)
        XCTAssertEqual(monitor.onTick(now: 100), ["a"])
        monitor.onHeard("a", now: 100)
        XCTAssertEqual(monitor.onTick(now: 110), [])
        XCTAssertEqual(monitor.onTick(now: 120), [])
        XCTAssertEqual(monitor.onTick(now: 121), ["a"])
    }

    func testAClockBehindTheLastHeardTimeKillsNobody() {
        var monitor = HeartbeatMonitor(intervalMilliseconds: 10, liveness: 2)
        monitor.onHeard("a", now: 5_000)
        XCTAssertEqual(monitor.onTick(now: 0), [])
        XCTAssertEqual(monitor.peers, ["a"])
    }
}
