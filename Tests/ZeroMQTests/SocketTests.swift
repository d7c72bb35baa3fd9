import XCTest
import ZeroMQ

final class SocketTests: XCTestCase {
    let context = Context()

    func testMultipartRoundTripKeepsEveryFrameWhole() throws {
        let router = try Socket(context, .router, linger: 0)
        let dealer = try Socket(context, .dealer, linger: 0)
        defer { router.close(); dealer.close() }
        try router.bind("inproc://multipart")
        try dealer.connect("inproc://multipart")
        let big = [UInt8](repeating: 7, count: 300_000)
        XCTAssertEqual(try dealer.send([[], Array("a".utf8), big, []], blocking: true), .sent)
        let frames = try XCTUnwrap(try router.receive(blocking: true))
        XCTAssertEqual(frames.count, 5, "routing id plus four frames")
        XCTAssertEqual(frames[1], [])
        XCTAssertEqual(frames[2], Array("a".utf8))
        XCTAssertEqual(frames[3].count, big.count, "no truncation")
        XCTAssertEqual(frames[4], [])
        // The routing id addresses the reply.
        XCTAssertEqual(try router.send([frames[0], Array("back".utf8)]), .sent)
        XCTAssertEqual(try dealer.receive(blocking: true), [Array("back".utf8)])
    }

    func testRoutedSendAndReceiveIntoAReusedArrayKeepEveryFrame() throws {
        let router = try Socket(context, .router, linger: 0)
        let dealer = try Socket(context, .dealer, linger: 0)
        defer { router.close(); dealer.close() }
        try router.setRouterMandatory()
        try router.bind("inproc://routed")
        try dealer.connect("inproc://routed")
        var frames: [[UInt8]] = [Array("stale".utf8)]
        XCTAssertFalse(try router.receive(into: &frames), "nothing waits yet")
        XCTAssertTrue(frames.isEmpty, "the array is emptied even when nothing waits")
        XCTAssertEqual(try dealer.send([Array("one".utf8), [], Array("three".utf8)], blocking: true), .sent)
        XCTAssertTrue(try router.receive(into: &frames, blocking: true))
        XCTAssertEqual(frames.count, 4)
        let peer = frames[0]
        XCTAssertEqual(Array(frames.dropFirst()), [Array("one".utf8), [], Array("three".utf8)])
        // The routing id goes first, then the frames, as one message.
        XCTAssertEqual(try router.send(peer, [Array("a".utf8), Array("b".utf8)]), .sent)
        XCTAssertEqual(try dealer.receive(blocking: true), [Array("a".utf8), Array("b".utf8)])
        XCTAssertEqual(try router.send(Array("nobody".utf8), [Array("x".utf8)]), .unroutable)
        // Reusing the array for the next message replaces, never appends.
        XCTAssertEqual(try dealer.send([Array("again".utf8)], blocking: true), .sent)
        XCTAssertTrue(try router.receive(into: &frames, blocking: true))
        XCTAssertEqual(frames, [peer, Array("again".utf8)])
    }

    func testRouterMandatoryReportsAnUnknownPeerInsteadOfDroppingSilently() throws {
        let router = try Socket(context, .router, linger: 0)
        defer { router.close() }
        try router.setRouterMandatory()
        try router.bind("inproc://mandatory")
        XCTAssertEqual(try router.send([Array("nobody".utf8), Array("x".utf8)]), .unroutable)
    }

    func testNonBlockingReceiveOnAnEmptySocketReturnsNil() throws {
        let pull = try Socket(context, .pull, linger: 0)
        defer { pull.close() }
        try pull.bind("inproc://empty")
        XCTAssertNil(try pull.receive())
        var poller = Poller()
        poller.add(pull)
        XCTAssertEqual(try poller.poll(timeoutMilliseconds: 10), 0)
        XCTAssertFalse(poller.isReadable(0))
    }

    func testPollerSeesAWaitingMessage() throws {
        let push = try Socket(context, .push, linger: 0)
        let pull = try Socket(context, .pull, linger: 0)
        defer { push.close(); pull.close() }
        try pull.bind("inproc://poll")
        try push.connect("inproc://poll")
        _ = try push.send([Array("hi".utf8)], blocking: true)
        var poller = Poller()
        poller.add(pull)
        XCTAssertEqual(try poller.poll(timeoutMilliseconds: 1_000), 1)
        XCTAssertTrue(poller.isReadable(0))
        XCTAssertEqual(try pull.receive(), [Array("hi".utf8)])
    }

    func testErrorsCarryTheCallAndErrno() throws {
        let socket = try Socket(context, .router, linger: 0)
        defer { socket.close() }
        XCTAssertThrowsError(try socket.bind("nonsense://here")) { error in
            let zmq = error as? ZMQError
            XCTAssertEqual(zmq?.call, "zmq_bind(nonsense://here)")
            XCTAssertNotEqual(zmq?.errno, 0)
            XCTAssertFalse(zmq?.message.isEmpty ?? true)
        }
    }

    func testWildcardBindReportsTheChosenPortAndPubSubFiltersByTopic() throws {
        let pub = try Socket(context, .pub, linger: 0)
        let sub = try Socket(context, .sub, linger: 0)
        defer { pub.close(); sub.close() }
        try pub.bind("tcp://127.0.0.1:*")
        let endpoint = pub.lastEndpoint
        XCTAssertTrue(endpoint.hasPrefix("tcp://127.0.0.1:"), endpoint)
        XCTAssertNotEqual(endpoint, "tcp://127.0.0.1:*")
        try sub.subscribe(Array("customer.".utf8))
        try sub.connect(endpoint)
        // Slow joiner: publish until the subscription is in place (bounded).
        var received: [[UInt8]]?
        for _ in 0..<200 where received == nil {
            _ = try pub.send([Array("product.1".utf8), Array("no".utf8)])
            _ = try pub.send([Array("customer.7".utf8), Array("yes".utf8)])
            var poller = Poller()
            poller.add(sub)
            try poller.poll(timeoutMilliseconds: 10)
            received = try sub.receive()
        }
        XCTAssertEqual(received, [Array("customer.7".utf8), Array("yes".utf8)])
    }

    func testMaximumMessageSizeDropsAnOversizedFrame() throws {
        let router = try Socket(context, .router, linger: 0)
        let dealer = try Socket(context, .dealer, linger: 0)
        defer { router.close(); dealer.close() }
        try router.setMaximumMessageSize(1_024)
        try router.bind("tcp://127.0.0.1:*")
        try dealer.connect(router.lastEndpoint)
        _ = try dealer.send([[UInt8](repeating: 1, count: 4_096)], blocking: true)
        var poller = Poller()
        poller.add(router)
        try poller.poll(timeoutMilliseconds: 300)
        XCTAssertNil(try router.receive(), "libzmq refused the oversized frame")
    }
}
