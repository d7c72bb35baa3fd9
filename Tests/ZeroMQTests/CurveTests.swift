import Synchronization
import XCTest
import ZeroMQ

/// CURVE and its ZAP handler on real sockets over loopback TCP: allowed keys get through,
/// unknown keys and NULL clients get nothing, and every refusal is counted and reported.
final class CurveTests: XCTestCase {
    func testZ85RoundTripsAndRefusesMalformedText() throws {
        let bytes = (0..<32).map { UInt8($0 * 7 & 0xff) }
        let text = Z85.encode(bytes)
        XCTAssertEqual(text.count, 40)
        XCTAssertEqual(Z85.decode(text), bytes)
        XCTAssertNil(Z85.decode(String(text.dropLast())), "39 characters")
        XCTAssertNil(Z85.decode(text + "0"), "41 characters")
        XCTAssertNil(Z85.decode(String(text.dropLast()) + "\""), "a quote is not Z85")
        XCTAssertNil(Z85.decode(String(repeating: "é", count: 40)))
    }

    func testGeneratedPairsAreDistinctAndConsistent() throws {
        let one = try CurveKeyPair.generate(), two = try CurveKeyPair.generate()
        XCTAssertNotEqual(one, two)
        XCTAssertEqual(CurveKeyPair.publicKey(ofSecret: one.secretKey), one.publicKey)
        XCTAssertNil(CurveKeyPair.publicKey(ofSecret: "not a key"))
    }

    private func waitReceive(_ socket: Socket, milliseconds: Int = 1_500) throws -> [[UInt8]]? {
        var poller = Poller()
        poller.add(socket)
        let deadline = ContinuousClock.now + .milliseconds(milliseconds)
        while ContinuousClock.now < deadline {
            if try poller.poll(timeoutMilliseconds: 50) > 0, let frames = try socket.receive() { return frames }
        }
        return nil
    }

    func testOnlyAllowedKeysReachACurveServer() throws {
        let server = try CurveKeyPair.generate(), friend = try CurveKeyPair.generate(), stranger = try CurveKeyPair.generate()
        let serverContext = Context(curve: CurveIdentity(keys: server, serverKey: server.publicKey))
        let refusals = Mutex<[String]>([])
        let zap = try ZAPHandler(context: serverContext, allowList: CurveAllowList(keys: [friend.publicKey])) { _, key in
            refusals.withLock { $0.append(key) }
        }
        defer { zap.stop() }
        let router = try Socket(serverContext, .router, linger: 0)
        try serverContext.curve!.serve(router)
        try router.bind("tcp://127.0.0.1:*")
        let publisher = try Socket(serverContext, .pub, linger: 0)
        try serverContext.curve!.serve(publisher)
        try publisher.bind("tcp://127.0.0.1:*")
        defer { router.close(); publisher.close() }

        let clients = Context()
        func dealer(_ keys: CurveKeyPair?) throws -> Socket {
            let socket = try Socket(clients, .dealer, linger: 0)
            if let keys { try socket.makeCurveClient(keys, serverKey: server.publicKey) }
            try socket.connect(router.lastEndpoint)
            return socket
        }
        let allowed = try dealer(friend), refused = try dealer(stranger), plain = try dealer(nil)
        defer { allowed.close(); refused.close(); plain.close() }
        for socket in [allowed, refused, plain] { _ = try socket.send([Array("hello".utf8)]) }
        let first = try XCTUnwrap(try waitReceive(router), "the allowed client's message arrives")
        XCTAssertEqual(first.last, Array("hello".utf8))
        XCTAssertEqual(try router.send([first[0], Array("back".utf8)]), .sent)
        XCTAssertEqual(try waitReceive(allowed), [Array("back".utf8)])
        XCTAssertNil(try waitReceive(router, milliseconds: 500), "nothing from the stranger or the NULL client")
        XCTAssertGreaterThanOrEqual(zap.refused, 1)
        XCTAssertTrue(refusals.withLock { $0.contains(stranger.publicKey) })

        // PUB: the stranger's SUB receives nothing of what the friend's receives.
        func subscriber(_ keys: CurveKeyPair) throws -> Socket {
            let socket = try Socket(clients, .sub, linger: 0)
            try socket.makeCurveClient(keys, serverKey: server.publicKey)
            try socket.subscribe([])
            try socket.connect(publisher.lastEndpoint)
            return socket
        }
        let listening = try subscriber(friend), eavesdropping = try subscriber(stranger)
        defer { listening.close(); eavesdropping.close() }
        var received: [[UInt8]]?
        for _ in 0..<40 where received == nil {
            _ = try publisher.send([Array("news".utf8)])
            received = try waitReceive(listening, milliseconds: 50)
        }
        XCTAssertEqual(received, [Array("news".utf8)])
        XCTAssertNil(try waitReceive(eavesdropping, milliseconds: 300))
    }

    /// A key that appears in the reload source later is admitted then, without a restart.
    func testAKeyAddedLaterIsAdmitted() throws {
        let source = Mutex<Set<String>>([])
        let list = CurveAllowList(keys: []) { source.withLock { $0 } }
        let key = try CurveKeyPair.generate().publicKey
        XCTAssertFalse(list.allows(key))
        _ = source.withLock { $0.insert(key) }
        // Reloads happen at most once a second.
        XCTAssertTrue((0..<40).contains { _ in
            if list.allows(key) { return true }
            usleep(50_000)
            return false
        })
        XCTAssertEqual(list.keys, [key])
    }
}
