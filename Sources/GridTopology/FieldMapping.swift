import Yams

/// A YAML mapping read as named fields, checked against the keys its level allows.
///
/// Every level of a topology (the root, `broker`, each section) is a mapping
/// with a fixed set of keys. Reading one through this type makes the rules the
/// same everywhere: an unknown key is reported at the key with the allowed
/// keys and the closest match, a key that is not a plain name is reported, a
/// missing required key is reported at the mapping that lacks it, and the
/// caller gets the rest to validate.
struct FieldMapping {
    /// One key and its value.
    struct Field {
        /// The key as written.
        var key: String
        /// Where the key is (problems about the key itself point here).
        var keyMark: Mark?
        /// The value node (problems about the value point at its mark).
        var value: Node
    }

    /// How problems name this mapping: `the topology`, `broker`, `section 'customer'`.
    let context: String
    /// Where the mapping starts; missing keys are reported here.
    let mark: Mark?
    /// The known keys present, by name.
    private var fields: [String: Field] = [:]

    /// Reads `mapping`, reporting unknown and malformed keys.
    ///
    /// - Parameters:
    ///   - allowed: the keys this level accepts, in the order the documentation lists them.
    ///   - placeholders: keys standing in for reported duplicates (see `YAMLDocument`); skipped.
    init(
        _ mapping: Node.Mapping,
        context: String,
        allowed: [String],
        placeholders: Set<String>,
        problems: inout ProblemCollector
    ) {
        self.context = context
        self.mark = mapping.mark
        for (keyNode, value) in mapping {
            guard let key = FieldMapping.plainKey(keyNode) else {
                problems.report("keys in \(context) must be plain names", at: keyNode.mark ?? mapping.mark)
                continue
            }
            if placeholders.contains(key) { continue }
            guard allowed.contains(key) else {
                problems.report(
                    "unknown key '\(key)' in \(context) (allowed keys: \(allowed.joined(separator: ", ")))"
                        + KeySuggestion.hint(for: key, among: allowed),
                    at: keyNode.mark)
                continue
            }
            fields[key] = Field(key: key, keyMark: keyNode.mark, value: value)
        }
    }

    /// The string of a scalar key; nil for a sequence or mapping used as a key.
    static func plainKey(_ node: Node) -> String? {
        guard case let .scalar(scalar) = node else { return nil }
        return scalar.string
    }

    /// The field named `key`, when present.
    subscript(key: String) -> Field? {
        fields[key]
    }

    /// The field named `key`, reporting its absence at this mapping's start.
    func require(_ key: String, problems: inout ProblemCollector, hint: String = "") -> Field? {
        if let field = fields[key] { return field }
        problems.report("\(context) is missing the required key '\(key)'\(hint)", at: mark)
        return nil
    }

    /// The value of an optional field: `defaultValue` when the key is absent,
    /// the read value when present and valid, nil (after `read` reported why)
    /// when present and invalid.
    func optional<Value>(
        _ key: String,
        default defaultValue: Value,
        problems: inout ProblemCollector,
        read: (Node, inout ProblemCollector) -> Value?
    ) -> Value? {
        guard let field = fields[key] else { return defaultValue }
        return read(field.value, &problems)
    }

    /// Reads a node that must be a mapping, reporting it when it is not.
    ///
    /// `what` names the node in the message (`broker`, `section 'kv'`).
    static func mapping(
        _ node: Node,
        what: String,
        problems: inout ProblemCollector
    ) -> Node.Mapping? {
        switch node {
        case let .mapping(mapping):
            return mapping
        default:
            problems.report("\(what) must be a mapping of keys to values, got \(ScalarReading.describe(node))",
                            at: node.mark)
            return nil
        }
    }
}
