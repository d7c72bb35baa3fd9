import GridClient
import GridCore
import GridWire
import Logging
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A processing unit (DESIGN.md section 3): one process hosting partitions of
/// one section, connected to the broker by a DEALER that speaks `MDPW01`.
///
/// One thread owns the unit and its socket. The data and the leases live in
/// the pure `UnitStore`; this shell moves frames.
public final class ProcessingUnit {
    public struct Configuration: Sendable {
        public var section: String
        public var name: String
        /// The broker's unit endpoint.
        public var broker: String
        public var heartbeatMilliseconds: Int
        public var liveness: Int

        public init(section: String, name: String, broker: String, heartbeatMilliseconds: Int, liveness: Int) {
            self.section = section
            self.name = name
            self.broker = broker
            self.heartbeatMilliseconds = heartbeatMilliseconds
            self.liveness = liveness
        }
    }

    let configuration: Configuration
    let context: Context
    let logger: Logger
    var socket: Socket?
    public private(set) var store = UnitStore()
    var lastHeardFromBroker: UInt64 = 0
    var lastSent: UInt64 = 0
    let meta: [UInt8]
    let unitMetaName: [UInt8]
    /// Requests served since start.
    public private(set) var served: UInt64 = 0

    public init(configuration: Configuration, context: Context, logger: Logger) {
        self.configuration = configuration
        self.context = context
        self.logger = logger
        self.unitMetaName = Array(configuration.name.utf8)
        self.meta = ReplyMeta(version: 0, unit: configuration.name).encoded
    }

    /// Connects, registers and serves until `signal` is raised; then says goodbye.
    public func run(until signal: StopSignal) throws(ZMQError) {
        try connect()
        let tick = max(1, min(configuration.heartbeatMilliseconds, 100))
        let expiry = UInt64(configuration.heartbeatMilliseconds * configuration.liveness)
        while !signal.isStopped {
            guard let socket else { return }
            var poller = Poller()
            poller.add(socket)
            try poller.poll(timeoutMilliseconds: tick)
            if poller.isReadable(0) {
                for _ in 0..<512 {
                    guard let frames = try socket.receive() else { break }
                    try onBrokerMessage(frames)
                    // A DISCONNECT made us reconnect: the old socket is closed.
                    if self.socket !== socket { break }
                }
            }
            let now = monotonicMilliseconds()
            if now - lastSent >= UInt64(configuration.heartbeatMilliseconds) {
                try send(.heartbeat)
            }
            if now - lastHeardFromBroker > expiry {
                // The broker went silent (restart, network): reconnect and register again.
                logger.warning("broker silent, reconnecting", metadata: ["grid.unit": "\(configuration.name)"])
                try connect()
            }
        }
        try? send(.disconnect)
        socket?.close()
    }

    func connect() throws(ZMQError) {
        socket?.close()
        let socket = try Socket(context, .dealer, linger: 100)
        try socket.setHighWaterMarks(send: 200_000, receive: 200_000)
        try socket.setReconnectInterval(milliseconds: 50, maximum: 1_000)
        try socket.connect(configuration.broker)
        self.socket = socket
        lastHeardFromBroker = monotonicMilliseconds()
        let report = UnitReport(operations: DataOperation.allCases.map(\.rawValue), pid: getpid())
        try send(.ready(section: configuration.section, unit: configuration.name, report: report))
        logger.info("unit registering", metadata: ["grid.unit": "\(configuration.name)", "grid.section": "\(configuration.section)", "broker": "\(configuration.broker)"])
    }

    func send(_ message: UnitMessage) throws(ZMQError) {
        guard let socket else { return }
        // The broker is the only peer; when its queue is full, wait rather than lose a reply.
        _ = try socket.send(message.frames, blocking: true)
        lastSent = monotonicMilliseconds()
    }

    func onBrokerMessage(_ frames: [[UInt8]]) throws(ZMQError) {
        lastHeardFromBroker = monotonicMilliseconds()
        let message: UnitMessage
        switch UnitMessage.decode(frames[...]) {
        case .success(let decoded): message = decoded
        case .failure(let error):
            logger.warning("dropped a malformed broker message", metadata: ["reason": "\(error.message)"])
            return
        }
        switch message {
        case .request(let client, let envelope, let route, let operationName, let key, let arguments):
            served += 1
            let outcome: OperationOutcome
            if let operation = DataOperation(name: operationName) {
                outcome = store.handle(route: route, operation: operation, key: key, arguments: arguments)
            } else {
                outcome = .failure(.unknownOperation(preview(operationName), section: configuration.section))
            }
            let meta = ReplyMeta(version: outcome.version, unit: configuration.name).encoded
            try send(.reply(client: client, envelope: envelope, status: outcome.status, payload: outcome.payload, meta: meta))
        case .assign(let leases):
            let dropped = store.onAssign(leases)
            logger.info("leases assigned", metadata: [
                "grid.unit": "\(configuration.name)", "primaries": "\(leases.filter { $0.role == .primary }.count)",
                "dropped": "\(dropped.count)",
            ])
        case .heartbeat:
            break
        case .disconnect:
            // The broker does not know us (it restarted, or declared us dead): register again.
            logger.warning("broker asked to register again", metadata: ["grid.unit": "\(configuration.name)"])
            try connect()
        case .ready, .reply:
            logger.warning("unexpected command from the broker", metadata: ["command": "\(message.command)"])
        }
    }
}
