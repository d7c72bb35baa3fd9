import Yams

/// Reads the `broker` mapping: the three endpoints and the failure detection
/// and size limits.
///
/// The endpoints are required because every process must agree on them; the
/// rest has defaults tuned for loopback. The three endpoints must differ: two
/// sockets of different types cannot bind the same address, and sharing one
/// would only surface as a confusing bind error at start-up.
extension TopologyDecoder {
    /// The keys of the `broker` mapping, in documentation order.
    static let brokerKeys = ["clients", "units", "events", "heartbeat", "liveness", "max_message_bytes", "loss_grace"]

    /// The broker's configuration, or nil when some part could not be read.
    ///
    /// `lan`: the topology declares hosts, so failure detection defaults to LAN values.
    mutating func decodeBroker(_ mapping: Node.Mapping, lan: Bool = false) -> BrokerConfig? {
        let fields = FieldMapping(
            mapping, context: "broker", allowed: Self.brokerKeys,
            placeholders: placeholders, problems: &problems)

        let endpointNames = ["clients", "units", "events"]
        var endpoints: [String: String] = [:]
        var endpointsValid = true
        var seen: [(name: String, endpoint: String)] = []
        for name in endpointNames {
            guard let field = fields.require(name, problems: &problems),
                  let endpoint = ScalarReading.endpoint(field.value, label: "broker: \(name)", problems: &problems)
            else {
                endpointsValid = false
                continue
            }
            if let earlier = seen.first(where: { $0.endpoint == endpoint }) {
                problems.report(
                    "broker: \(name) endpoint '\(endpoint)' is the same as \(earlier.name); "
                        + "the clients, units and events endpoints must differ",
                    at: field.value.mark)
                endpointsValid = false
            }
            seen.append((name, endpoint))
            endpoints[name] = endpoint
        }

        let heartbeat = fields.optional(
            "heartbeat", default: lan ? BrokerConfig.lanHeartbeatMilliseconds : BrokerConfig.defaultHeartbeatMilliseconds, problems: &problems
        ) { node, problems in
            ScalarReading.duration(node, label: "broker: heartbeat",
                                   inMilliseconds: BrokerConfig.heartbeatMillisecondsRange, problems: &problems)
        }
        let liveness = fields.optional(
            "liveness", default: lan ? BrokerConfig.lanLiveness : BrokerConfig.defaultLiveness, problems: &problems
        ) { node, problems in
            ScalarReading.integer(node, label: "broker: liveness", in: BrokerConfig.livenessRange,
                                  problems: &problems)
        }
        let maxMessageBytes = fields.optional(
            "max_message_bytes", default: BrokerConfig.defaultMaxMessageBytes, problems: &problems
        ) { node, problems in
            ScalarReading.integer(node, label: "broker: max_message_bytes", in: BrokerConfig.maxMessageBytesRange,
                                  problems: &problems)
        }

        let lossGrace = fields.optional(
            "loss_grace", default: lan ? BrokerConfig.lanLossGraceMilliseconds : BrokerConfig.defaultLossGraceMilliseconds, problems: &problems
        ) { node, problems in
            ScalarReading.duration(node, label: "broker: loss_grace",
                                   inMilliseconds: BrokerConfig.lossGraceMillisecondsRange, problems: &problems)
        }

        guard endpointsValid, let clients = endpoints["clients"], let units = endpoints["units"],
              let events = endpoints["events"], let heartbeat, let liveness, let maxMessageBytes, let lossGrace
        else { return nil }
        return BrokerConfig(
            clients: clients, units: units, events: events,
            heartbeatMilliseconds: heartbeat, liveness: liveness, maxMessageBytes: maxMessageBytes,
            lossGraceMilliseconds: lossGrace)
    }
}
