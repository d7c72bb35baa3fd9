import GridCore

/// The client side of the protocol (PROTOCOL.md, "Clients").
///
/// Two request forms reach the broker's client ROUTER:
/// - 7/MDP v0.1: `MDPC01, section, [RID:request id], operation, key, arguments...`, from a
///   REQ socket (an empty delimiter frame first) or a DEALER (without it). The reply is
///   `MDPC01, section, status, payload`, with the delimiter echoed. The request id frame
///   is optional: without it a retried write may apply twice.
/// - Native: `SGC02, correlation, request id, section, operation, key, arguments...` from
///   a DEALER, so one client keeps many requests in flight; the reply is
///   `SGC02, correlation, status, payload, meta` (meta: version and unit). The request id
///   (client id and sequence, `RequestWire`) makes a retry apply at most once.
public enum ClientWire {
    public static let mdpHeader: [UInt8] = Array("MDPC01".utf8)
    public static let nativeHeader: [UInt8] = Array("SGC02".utf8)
    /// The first native form, without request ids: refused with a reply in its own form.
    public static let retiredNativeHeader: [UInt8] = Array("SGC01".utf8)
    /// Services the broker answers itself under 8/MMI.
    public static let mmiPrefix: [UInt8] = Array("mmi.".utf8)
    /// Longest correlation id a native client may use.
    public static let maximumCorrelationBytes = 32
    /// Longest key the grid accepts.
    public static let maximumKeyBytes = 1024

    /// A request decoded from the frames after the client's routing id.
    public struct Request: Sendable, Equatable {
        public var envelope: ClientEnvelope
        public var section: [UInt8]
        public var operation: [UInt8]
        public var key: [UInt8]
        public var arguments: [[UInt8]]
        /// The request id frame as sent (`RequestWire`), already checked; empty when none.
        public var requestID: [UInt8]

        public init(envelope: ClientEnvelope, section: [UInt8], operation: [UInt8], key: [UInt8], arguments: [[UInt8]], requestID: [UInt8] = []) {
            self.requestID = requestID
            self.envelope = envelope
            self.section = section
            self.operation = operation
            self.key = key
            self.arguments = arguments
        }
    }

    /// Why a client message was refused, and whether a reply can be addressed.
    public enum Refusal: Error, Sendable, Equatable {
        /// The header was understood, so the error goes back in that form.
        case reply(ClientEnvelope, GridError)
        /// Not even the header was understood: the message is dropped and counted.
        case drop(String)
    }

    /// Decodes `frames` (routing id already removed).
    public static func decodeRequest(_ frames: ArraySlice<[UInt8]>) -> Result<Request, Refusal> {
        var rest = frames
        var delimited = false
        var requestID: [UInt8] = []
        if let first = rest.first, first.isEmpty {
            delimited = true
            rest = rest.dropFirst()
        }
        guard let header = rest.first else { return .failure(.drop("no protocol header")) }
        rest = rest.dropFirst()
        let envelope: ClientEnvelope
        if header == mdpHeader {
            guard let section = rest.first else { return .failure(.drop("MDP request without a service frame")) }
            rest = rest.dropFirst()
            envelope = ClientEnvelope(kind: delimited ? .mdpDelimited : .mdpBare, tag: section)
            guard section.count <= 255 else { return .failure(.drop("service name longer than 255 bytes")) }
        } else if header == nativeHeader || header == retiredNativeHeader, !delimited {
            guard let correlation = rest.first else { return .failure(.drop("native request without a correlation frame")) }
            guard !correlation.isEmpty, correlation.count <= maximumCorrelationBytes else {
                return .failure(.drop("correlation id must be 1 to \(maximumCorrelationBytes) bytes"))
            }
            rest = rest.dropFirst()
            guard header == nativeHeader else {
                return .failure(.reply(ClientEnvelope(kind: .retiredNative, tag: correlation), GridError(.badRequest, "protocol_retired",
                    "SGC01 requests are no longer taken: send SGC02, which carries a request id after the correlation (PROTOCOL.md 1.2)")))
            }
            envelope = ClientEnvelope(kind: .native, tag: correlation)
            guard let frame = rest.first else {
                return .failure(.reply(envelope, .malformed("request without a request id frame")))
            }
            guard RequestWire.decodeID(frame) != nil else {
                return .failure(.reply(envelope, .malformed("the request id frame is sequence u64, floor u64, then a client id of 1 to \(RequestID.maximumClientBytes) bytes; got \(frame.count) bytes")))
            }
            requestID = frame
            rest = rest.dropFirst()
            guard rest.first != nil else {
                return .failure(.reply(envelope, .malformed("request without a section frame")))
            }
        } else {
            return .failure(.drop("unknown protocol header '\(preview(header, limit: 16))'"))
        }
        let section = envelope.kind == .native ? rest.removeFirst() : envelope.tag
        if envelope.kind != .native, let frame = rest.first, frame.starts(with: RequestWire.mdpPrefix) {
            // MDP's optional request id: one frame before the operation.
            guard RequestWire.decodeID(frame.dropFirst(RequestWire.mdpPrefix.count)) != nil else {
                return .failure(.reply(envelope, .malformed("the RID: frame is RID: then sequence u64, floor u64 and a client id of 1 to \(RequestID.maximumClientBytes) bytes")))
            }
            requestID = Array(frame.dropFirst(RequestWire.mdpPrefix.count))
            rest = rest.dropFirst()
        }
        guard let operation = rest.first else {
            return .failure(.reply(envelope, .malformed("request without an operation frame")))
        }
        rest = rest.dropFirst()
        // 8/MMI requests (`mmi.service`, body: a service name) have no key frame.
        let isMMI = section.starts(with: mmiPrefix)
        guard let key = rest.first ?? (isMMI ? [] : nil) else {
            return .failure(.reply(envelope, .malformed("request without a key frame")))
        }
        rest = rest.dropFirst()
        return .success(Request(envelope: envelope, section: section, operation: operation, key: key, arguments: Array(rest), requestID: requestID))
    }

    /// The reply frames for a client (routing id not included).
    public static func encodeReply(envelope: ClientEnvelope, status: Status, payload: [UInt8], meta: [UInt8]) -> [[UInt8]] {
        switch envelope.kind {
        case .mdpDelimited: return [[], mdpHeader, envelope.tag, status.ascii, payload]
        case .mdpBare: return [mdpHeader, envelope.tag, status.ascii, payload]
        case .native: return [nativeHeader, envelope.tag, status.ascii, payload, meta]
        case .retiredNative: return [retiredNativeHeader, envelope.tag, status.ascii, payload, meta]
        }
    }

    /// A numeric correlation id as its frame: 8 bytes, big-endian (what GridClient and units use).
    public static func correlation(_ value: UInt64) -> [UInt8] { BigEndian.bytes(value) }

    /// The number in an 8-byte correlation frame; nil for a frame of another size.
    public static func correlationValue(_ frame: [UInt8]) -> UInt64? {
        frame.count == 8 ? BigEndian.uint64(frame) : nil
    }

    /// A native request as a DEALER client sends it.
    public static func encodeNativeRequest(correlation: [UInt8], requestID: RequestID, section: String, operation: String, key: [UInt8], arguments: [[UInt8]]) -> [[UInt8]] {
        [nativeHeader, correlation, RequestWire.encode(requestID), Array(section.utf8), Array(operation.utf8), key] + arguments
    }

    /// A direct request: a partition-aware client's request sent straight to
    /// the unit that leads the key's partition (PROTOCOL.md 1.6).
    public static let directHeader: [UInt8] = Array("SGD02".utf8)

    /// A direct request as a unit's client ROUTER decodes it (routing id removed).
    public struct DirectRequest: Sendable, Equatable {
        public var correlation: [UInt8]
        /// The partition the client computed and the primary's epoch it was told: the unit fences on both.
        public var route: Route
        public var section: [UInt8]
        public var operation: [UInt8]
        public var key: [UInt8]
        public var arguments: [[UInt8]]
        public var requestID: RequestID

        public init(correlation: [UInt8], requestID: RequestID, route: Route, section: [UInt8], operation: [UInt8], key: [UInt8], arguments: [[UInt8]]) {
            self.requestID = requestID
            self.correlation = correlation
            self.route = route
            self.section = section
            self.operation = operation
            self.key = key
            self.arguments = arguments
        }
    }

    /// `SGD02, correlation, request id, route (partition u32, epoch u64), section, operation, key, arguments...`.
    public static func encodeDirectRequest(correlation: [UInt8], requestID: RequestID, route: Route, section: [UInt8], operation: [UInt8], key: [UInt8], arguments: [[UInt8]]) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        frames.reserveCapacity(7 + arguments.count)
        frames.append(directHeader)
        frames.append(correlation)
        frames.append(RequestWire.encode(requestID))
        frames.append(UnitMessage.encode(route))
        frames.append(section)
        frames.append(operation)
        frames.append(key)
        frames.append(contentsOf: arguments)
        return frames
    }

    /// Decodes a direct request. As for the broker's native form, a message
    /// whose correlation cannot be read is dropped; past that, an error reply.
    public static func decodeDirectRequest(_ frames: ArraySlice<[UInt8]>) -> Result<DirectRequest, Refusal> {
        let b = frames.startIndex
        guard frames.count >= 2, frames[b] == directHeader else { return .failure(.drop("not a direct request (SGD02)")) }
        let correlation = frames[b + 1]
        guard !correlation.isEmpty, correlation.count <= maximumCorrelationBytes else {
            return .failure(.drop("correlation id must be 1 to \(maximumCorrelationBytes) bytes"))
        }
        let envelope = ClientEnvelope(kind: .native, tag: correlation)
        guard frames.count >= 7 else {
            return .failure(.reply(envelope, .malformed("a direct request has a request id, route, section, operation and key frame")))
        }
        guard let requestID = RequestWire.decodeID(frames[b + 2]) else {
            return .failure(.reply(envelope, .malformed("the request id frame is sequence u64, floor u64, then a client id of 1 to \(RequestID.maximumClientBytes) bytes")))
        }
        let routeFrame = frames[b + 3]
        guard routeFrame.count == 12 else {
            return .failure(.reply(envelope, .malformed("a direct request's route frame is 12 bytes (partition u32, epoch u64), got \(routeFrame.count)")))
        }
        let route = Route(partition: Int(BigEndian.uint32(routeFrame.prefix(4))), epoch: BigEndian.uint64(routeFrame.dropFirst(4)))
        return .success(DirectRequest(
            correlation: correlation, requestID: requestID, route: route, section: frames[b + 4], operation: frames[b + 5], key: frames[b + 6],
            arguments: frames.count > 7 ? Array(frames.dropFirst(7)) : []))
    }

    /// A native reply as the client receives it.
    public struct NativeReply: Sendable, Equatable {
        public var correlation: [UInt8]
        public var status: Status
        public var payload: [UInt8]
        public var meta: ReplyMeta
    }

    /// Decodes a native reply; nil when the frames are not one.
    public static func decodeNativeReply(_ frames: [[UInt8]]) -> NativeReply? {
        guard frames.count == 5, frames[0] == nativeHeader, let status = Status(ascii: frames[2]) else { return nil }
        return NativeReply(correlation: frames[1], status: status, payload: frames[3], meta: ReplyMeta(decoding: frames[4]) ?? ReplyMeta())
    }
}

/// What the broker needs to address a reply: the request's form, plus the
/// MDP service name or the native correlation id. Units echo it untouched.
public struct ClientEnvelope: Sendable, Equatable {
    public enum Kind: UInt8, Sendable, Equatable {
        /// MDP from a REQ socket: the reply starts with an empty delimiter.
        case mdpDelimited = 0
        /// MDP from a DEALER that sent no delimiter.
        case mdpBare = 1
        /// Native, with a correlation id.
        case native = 2
        /// The first native form (`SGC01`): only ever answered with `protocol_retired`.
        case retiredNative = 3
    }

    public var kind: Kind
    /// The MDP service (section) or the native correlation id.
    public var tag: [UInt8]

    public init(kind: Kind, tag: [UInt8]) {
        self.kind = kind
        self.tag = tag
    }

    /// One byte of kind, then the tag.
    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(1 + tag.count)
        bytes.append(kind.rawValue)
        bytes.append(contentsOf: tag)
        return bytes
    }

    public init?(encoded: [UInt8]) {
        guard let first = encoded.first, let kind = Kind(rawValue: first) else { return nil }
        self.kind = kind
        self.tag = Array(encoded.dropFirst())
    }
}

/// The reply's metadata frame: the entry's version (8 bytes, big-endian) then the serving unit's name.
public struct ReplyMeta: Sendable, Equatable {
    public var version: UInt64
    public var unit: String

    public init(version: UInt64 = 0, unit: String = "") {
        self.version = version
        self.unit = unit
    }

    /// One allocation: every reply carries a meta frame.
    public var encoded: [UInt8] {
        var writer = ByteWriter(capacity: 8 + unit.utf8.count)
        writer.uint64(version)
        writer.bytes.append(contentsOf: unit.utf8)
        return writer.bytes
    }

    public init?(decoding bytes: [UInt8]) {
        guard bytes.count >= 8 else { return nil }
        version = BigEndian.uint64(bytes.prefix(8))
        unit = String(decoding: bytes.dropFirst(8), as: UTF8.self)
    }
}
