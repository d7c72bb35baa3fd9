import Yams

/// Reads the root `hosts` mapping (host name to address), a section's `hosts` list, and the
/// root `security` mapping.
///
/// A grid without `hosts` runs on one machine, on loopback; with them, each unit runs on
/// the host its section's list gives it (round robin), and the broker's failure detection
/// defaults to values that suit a LAN (`BrokerConfig.lanHeartbeatMilliseconds`).
extension TopologyDecoder {
    /// The keys of the `security` mapping.
    static let securityKeys = ["mode", "keys"]

    /// The declared hosts in file order; `[]` when the key is absent, nil after a problem.
    mutating func decodeHosts(_ fields: FieldMapping) -> [HostConfig]? {
        guard let field = fields["hosts"] else { return [] }
        guard let mapping = FieldMapping.mapping(field.value, what: "hosts", problems: &problems) else { return nil }
        var hosts: [HostConfig] = []
        var valid = true
        for (keyNode, value) in mapping {
            guard let name = FieldMapping.plainKey(keyNode), !placeholders.contains(name) else { continue }
            guard ScalarReading.isValidName(name) else {
                problems.report("host name '\(name)' \(ScalarReading.nameRule)", at: keyNode.mark)
                valid = false
                continue
            }
            guard let address = ScalarReading.text(value, label: "hosts: \(name)", expected: "an address such as 10.0.0.5 or db-1.example.com",
                                                   problems: &problems) else {
                valid = false
                continue
            }
            guard Self.isHostAddress(address) else {
                problems.report("hosts: \(name) must be an IPv4 address or a DNS name without scheme or port (such as 10.0.0.5), got '\(address)'",
                                at: value.mark)
                valid = false
                continue
            }
            if let other = hosts.first(where: { $0.address == address }) {
                problems.report("hosts: \(name) has the address of \(other.name) ('\(address)'); each host needs its own", at: value.mark)
                valid = false
                continue
            }
            hosts.append(HostConfig(name: name, address: address))
        }
        if valid && hosts.isEmpty {
            problems.report("hosts must name at least one host, such as 'alpha: 10.0.0.5', or be left out", at: mapping.mark)
            return nil
        }
        return valid ? hosts : nil
    }

    /// A section's `hosts`: names from the root `hosts`, each once; `[]` when absent.
    mutating func decodeSectionHosts(_ fields: FieldMapping, context: String, declared: [HostConfig]?) -> [String]? {
        guard let field = fields["hosts"] else { return [] }
        guard case let .sequence(sequence) = field.value, !sequence.isEmpty else {
            problems.report("\(context): hosts must be a list of host names such as [alpha, beta], got \(ScalarReading.describe(field.value))",
                            at: field.value.mark)
            return nil
        }
        // A problem in the root `hosts` was reported there; nothing more to check here.
        guard let declared else { return nil }
        var names: [String] = []
        for item in sequence {
            guard let name = ScalarReading.text(item, label: "\(context): hosts", expected: "a host name", problems: &problems) else { return nil }
            guard declared.contains(where: { $0.name == name }) else {
                let known = declared.map(\.name)
                let hint = known.isEmpty ? " (the topology declares no hosts: add a root 'hosts' mapping)"
                    : " (declared: \(known.joined(separator: ", ")))" + KeySuggestion.hint(for: name, among: known)
                problems.report("\(context): hosts names '\(name)', which the topology's hosts do not declare\(hint)", at: item.mark)
                return nil
            }
            guard !names.contains(name) else {
                problems.report("\(context): hosts names '\(name)' twice", at: item.mark)
                return nil
            }
            names.append(name)
        }
        return names
    }

    /// `security`: `.some(nil)` when absent, the configuration when valid, nil after a problem.
    mutating func decodeSecurity(_ fields: FieldMapping) -> SecurityConfig?? {
        guard let field = fields["security"] else { return .some(nil) }
        guard let mapping = FieldMapping.mapping(field.value, what: "security", problems: &problems) else { return nil }
        let security = FieldMapping(mapping, context: "security", allowed: Self.securityKeys, placeholders: placeholders, problems: &problems)
        let mode = security.require("mode", problems: &problems, hint: " (curve)").flatMap { field in
            ScalarReading.choice(field.value, label: "security: mode", among: SecurityConfig.Mode.allCases.map(\.rawValue), problems: &problems)
                .flatMap(SecurityConfig.Mode.init(rawValue:))
        }
        let keys = security.require("keys", problems: &problems, hint: " (the folder of key files, such as keys)").flatMap { field in
            ScalarReading.text(field.value, label: "security: keys", expected: "a folder such as keys", problems: &problems)
        }
        guard let mode, let keys else { return nil }
        return .some(SecurityConfig(mode: mode, keys: keys))
    }

    /// An IPv4 address or a DNS name: no scheme, port, path, space or wildcard (IPv6 would
    /// need ZMQ_IPV6 on every socket; not supported yet).
    static func isHostAddress(_ text: String) -> Bool {
        guard !text.isEmpty, text.count <= 253, text != "0.0.0.0" else { return false }
        return text.unicodeScalars.allSatisfy { scalar in
            ("0"..."9").contains(scalar) || ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "." || scalar == "-"
        }
    }
}
