import GridRuntime
import XCTest

/// The supervisor's view of the broker: asked every second, unresponsive after the limit,
/// and a new broker process gets the whole limit to start.
final class BrokerLivenessTests: XCTestCase {
    func testABrokerThatStopsAnsweringIsUnresponsiveAfterTheLimit() {
        var liveness = BrokerLiveness(limitMilliseconds: 5_000)
        XCTAssertFalse(liveness.shouldAsk(now: 0), "no broker, nobody to ask")
        liveness.observe(pid: 100, now: 0)
        XCTAssertTrue(liveness.shouldAsk(now: 0))
        liveness.asked(now: 0)
        XCTAssertFalse(liveness.shouldAsk(now: 999))
        XCTAssertTrue(liveness.shouldAsk(now: 1_000))
        liveness.answered(now: 1_200)
        XCTAssertNil(liveness.unresponsive(now: 6_199))
        XCTAssertEqual(liveness.unresponsive(now: 6_200), 100)
    }

    func testANewBrokerGetsTheWholeLimitToStart() {
        var liveness = BrokerLiveness(limitMilliseconds: 5_000)
        liveness.observe(pid: 100, now: 0)
        XCTAssertEqual(liveness.unresponsive(now: 7_000), 100)
        liveness.observe(pid: nil, now: 7_000)
        XCTAssertNil(liveness.unresponsive(now: 7_100), "down: the supervisor restarts it")
        liveness.observe(pid: 200, now: 7_500)
        XCTAssertTrue(liveness.shouldAsk(now: 7_500))
        XCTAssertNil(liveness.unresponsive(now: 12_499))
        XCTAssertEqual(liveness.unresponsive(now: 12_500), 200)
    }

    func testTheLimitFollowsTheTopologysFailureDetection() {
        XCTAssertEqual(BrokerLiveness.limit(heartbeatMilliseconds: 100, liveness: 3), 5_000)
        XCTAssertEqual(BrokerLiveness.limit(heartbeatMilliseconds: 1_000, liveness: 5), 50_000)
    }
}
