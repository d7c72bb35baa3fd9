import Foundation
import GridCore
import GridWire
import Synchronization
import ZeroMQ

/// A bare ZeroMQ relay inside the bench process, for `--relay`: what the
/// machine and the ZeroMQ wrapper can do with the same clients and frames,
/// without the grid's work in between.
///
/// One relay thread runs a zmq_poll loop like a minimal broker: requests from
/// the client ROUTER (frontend) go round-robin to the workers through the
/// backend ROUTER, replies come back the other way. Each echo worker is a
/// thread with a DEALER that answers every request at once with a native
/// reply the size of the grid's (`BenchEchoReplies`). Every socket is created,
/// used and closed by its own thread; both ROUTERs bind 127.0.0.1 on ports
/// the system picks.
final class BenchRelay: Sendable {
    /// The frontend: where the bench's connections send.
    let endpoint: String
    let workers: Int
    private let state: BenchRelayState

    /// How long each thread waits in zmq_poll before it looks at the stop flag.
    static let sliceMilliseconds = 20
    /// The most messages moved from one socket per wake-up, so one side cannot starve the other.
    static let batch = 512
    /// How long the start waits for the relay to bind and the workers to say READY.
    static let startSeconds = 10.0

    /// The READY frame a worker sends once it is connected.
    fileprivate static let ready: [UInt8] = [0x01]

    private init(endpoint: String, workers: Int, state: BenchRelayState) {
        self.endpoint = endpoint
        self.workers = workers
        self.state = state
    }

    /// Starts the relay and `workers` echo workers; returns once every worker is READY.
    ///
    /// `capacity` (the requests the bench can have in flight) sizes the
    /// high-water marks, so the relay never has to refuse or block.
    static func start(workers: Int, replies: BenchEchoReplies, capacity: Int) throws(BenchFailure) -> BenchRelay {
        let context = Context()
        let state = BenchRelayState()
        let highWaterMark = Int32(clamping: max(1_000, capacity * 2))
        spawn("spacegrid-bench-relay", state) { relayLoop(context: context, state: state, highWaterMark: highWaterMark) }
        guard let (frontend, backend) = state.waitForEndpoints(seconds: startSeconds) else {
            state.stopAndWait()
            throw .connection("the relay did not start: \(state.failure ?? "no endpoints within \(Int(startSeconds)) s")")
        }
        for index in 0..<workers {
            spawn("spacegrid-bench-echo-\(index)", state) {
                echoLoop(context: context, state: state, backend: backend, replies: replies, highWaterMark: highWaterMark)
            }
        }
        let deadline = BenchClock.nanoseconds() + UInt64(startSeconds * 1e9)
        while state.readyWorkers.load(ordering: .relaxed) < workers, state.failure == nil, BenchClock.nanoseconds() < deadline {
            Thread.sleep(forTimeInterval: 0.005)
        }
        guard state.readyWorkers.load(ordering: .relaxed) == workers else {
            state.stopAndWait()
            throw .connection("the relay's echo workers did not connect: \(state.failure ?? "\(state.readyWorkers.load(ordering: .relaxed)) of \(workers) READY within \(Int(startSeconds)) s")")
        }
        return BenchRelay(endpoint: frontend, workers: workers, state: state)
    }

    /// Messages the relay or a worker could not pass on (a full queue or a gone peer).
    var dropped: Int { state.dropped.load(ordering: .relaxed) }

    /// Stops every thread and waits for them to close their sockets.
    func stop() { state.stopAndWait() }

    private static func spawn(_ name: String, _ state: BenchRelayState, _ body: @escaping @Sendable () -> Void) {
        state.running.add(1, ordering: .relaxed)
        let thread = Thread {
            body()
            state.running.subtract(1, ordering: .relaxed)
        }
        thread.name = name
        thread.start()
    }

    // MARK: - The relay thread

    private static func relayLoop(context: Context, state: BenchRelayState, highWaterMark: Int32) {
        do {
            let frontend = try Socket(context, .router, linger: 0)
            defer { frontend.close() }
            let backend = try Socket(context, .router, linger: 0)
            defer { backend.close() }
            for socket in [frontend, backend] {
                try socket.setHighWaterMarks(send: highWaterMark, receive: highWaterMark)
                try socket.setRouterMandatory()
                try socket.bind("tcp://127.0.0.1:*")
            }
            state.publish(frontend: frontend.lastEndpoint, backend: backend.lastEndpoint)

            // Clients are only read once a worker can take their requests.
            var waiting = Poller()
            waiting.add(backend)
            var relaying = Poller()
            relaying.add(frontend)
            relaying.add(backend)
            var workers: [[UInt8]] = []
            var next = 0
            while !state.stopping {
                if workers.isEmpty {
                    guard try waiting.poll(timeoutMilliseconds: sliceMilliseconds) > 0 else { continue }
                } else {
                    guard try relaying.poll(timeoutMilliseconds: sliceMilliseconds) > 0 else { continue }
                }
                // Replies first: [worker, client, reply...] goes out as [client, reply...].
                for _ in 0..<batch {
                    guard let frames = try backend.receive(), frames.count >= 2 else { break }
                    if frames.count == 2, frames[1] == ready {
                        workers.append(frames[0])
                        state.readyWorkers.add(1, ordering: .relaxed)
                        continue
                    }
                    if try frontend.send(Array(frames.dropFirst())) != .sent { state.dropped.add(1, ordering: .relaxed) }
                }
                guard !workers.isEmpty else { continue }
                // Requests: [client, request...] goes out as [worker, client, request...].
                for _ in 0..<batch {
                    guard let frames = try frontend.receive() else { break }
                    if try backend.send([workers[next]] + frames) != .sent { state.dropped.add(1, ordering: .relaxed) }
                    next = (next + 1) % workers.count
                }
            }
        } catch {
            state.fail("relay: \(error)")
        }
    }

    // MARK: - The echo workers

    private static func echoLoop(context: Context, state: BenchRelayState, backend: String, replies: BenchEchoReplies, highWaterMark: Int32) {
        let ok = Status.ok.ascii
        do {
            let socket = try Socket(context, .dealer, linger: 0)
            defer { socket.close() }
            try socket.setHighWaterMarks(send: highWaterMark, receive: highWaterMark)
            try socket.connect(backend)
            _ = try socket.send([ready], blocking: true)
            var poller = Poller()
            poller.add(socket)
            while !state.stopping {
                guard try poller.poll(timeoutMilliseconds: sliceMilliseconds) > 0 else { continue }
                for _ in 0..<batch {
                    // [client, SGC02, correlation, request id, section, operation, key, arguments...]
                    guard let frames = try socket.receive() else { break }
                    guard frames.count >= 6 else { continue }
                    let reply = [frames[0], ClientWire.nativeHeader, frames[2], ok, replies.payload(for: frames[5]), replies.meta]
                    if try socket.send(reply) != .sent { state.dropped.add(1, ordering: .relaxed) }
                }
            }
        } catch {
            state.fail("echo worker: \(error)")
        }
    }
}

/// What the relay's threads and the main thread share.
private final class BenchRelayState: Sendable {
    let readyWorkers = Atomic<Int>(0)
    let running = Atomic<Int>(0)
    let dropped = Atomic<Int>(0)
    private let stopFlag = Atomic<Bool>(false)
    private let endpoints = Mutex<(frontend: String, backend: String)?>(nil)
    private let failureText = Mutex<String?>(nil)

    var stopping: Bool { stopFlag.load(ordering: .relaxed) }
    var failure: String? { failureText.withLock { $0 } }

    func publish(frontend: String, backend: String) {
        endpoints.withLock { $0 = (frontend, backend) }
    }

    func fail(_ reason: String) {
        failureText.withLock { if $0 == nil { $0 = reason } }
    }

    /// The relay's endpoints once bound; nil when it failed or took longer than `seconds`.
    func waitForEndpoints(seconds: Double) -> (String, String)? {
        let deadline = BenchClock.nanoseconds() + UInt64(seconds * 1e9)
        while BenchClock.nanoseconds() < deadline, failure == nil {
            if let bound = endpoints.withLock({ $0 }) { return bound }
            Thread.sleep(forTimeInterval: 0.005)
        }
        return nil
    }

    /// Raises the stop flag and waits until every thread has closed its socket
    /// (each looks at the flag every `sliceMilliseconds`; bounded at 5 s).
    func stopAndWait() {
        stopFlag.store(true, ordering: .relaxed)
        let deadline = BenchClock.nanoseconds() + 5_000_000_000
        while running.load(ordering: .relaxed) > 0, BenchClock.nanoseconds() < deadline {
            Thread.sleep(forTimeInterval: 0.005)
        }
    }
}
