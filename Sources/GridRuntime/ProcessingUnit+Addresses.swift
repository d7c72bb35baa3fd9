extension ProcessingUnit.Configuration {
    /// The endpoint one of the unit's sockets binds: the bind address, and the fixed port
    /// `basePort + offset` or one the system picks.
    func bindEndpoint(offset: Int) -> String {
        "tcp://\(host):\(basePort.map { String($0 + offset) } ?? "*")"
    }

    /// What the unit tells others of a socket it bound (`lastEndpoint`): the same port at the
    /// advertised address. A unit bound to every interface (`0.0.0.0`) must advertise one
    /// address peers can reach.
    func advertised(_ bound: String) -> String {
        guard let advertise, bound.hasPrefix("tcp://"), let colon = bound.lastIndex(of: ":") else { return bound }
        return "tcp://\(advertise)\(bound[colon...])"
    }
}
