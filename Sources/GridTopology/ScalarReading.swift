import Yams

/// Reads and checks the scalar values of a topology: integers, durations,
/// names, endpoints and choices.
///
/// Yams would happily turn `0x10`, `1_000` or `"2"` into numbers; a topology
/// is clearer when each value has one spelling, so values are read from the
/// scalar's text with strict rules, and every failure says what was expected
/// and what was found. Each reader returns nil after reporting, so the caller
/// keeps validating the rest of the file.
enum ScalarReading {
    /// A short description of a node for "got ..." in messages.
    static func describe(_ node: Node) -> String {
        switch node {
        case let .scalar(scalar):
            if isNull(scalar) { return "nothing" }
            switch scalar.style {
            case .singleQuoted, .doubleQuoted:
                return "the quoted string \"\(scalar.string)\""
            default:
                return "'\(scalar.string)'"
            }
        case .mapping:
            return "a mapping"
        case .sequence:
            return "a list"
        case .alias:
            return "an alias"
        }
    }

    /// True for an empty value (`key:` with nothing after it, `~`, `null`).
    static func isNull(_ scalar: Node.Scalar) -> Bool {
        scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// The text of a scalar that is not empty; reports `label must be <expected>` otherwise.
    static func text(
        _ node: Node, label: String, expected: String, problems: inout ProblemCollector
    ) -> String? {
        guard case let .scalar(scalar) = node, !isNull(scalar) else {
            problems.report("\(label) must be \(expected), got \(describe(node))", at: node.mark)
            return nil
        }
        return scalar.string
    }

    /// The integer written as a plain decimal scalar, such as `2` or `-7`.
    static func plainInteger(_ node: Node) -> Int64? {
        guard case let .scalar(scalar) = node, scalar.style == .plain else { return nil }
        let text = scalar.string
        let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(text)
    }

    /// An integer within `range`.
    static func integer(
        _ node: Node, label: String, in range: ClosedRange<Int>, problems: inout ProblemCollector
    ) -> Int? {
        guard let value = plainInteger(node) else {
            problems.report("\(label) must be an integer, got \(describe(node))", at: node.mark)
            return nil
        }
        guard value >= Int64(range.lowerBound), value <= Int64(range.upperBound) else {
            problems.report(
                "\(label) must be between \(range.lowerBound) and \(range.upperBound), got \(value)",
                at: node.mark)
            return nil
        }
        return Int(value)
    }

    /// A duration in milliseconds, written `<int>ms` or `<int>s`, within `range`.
    ///
    /// A bare number is refused: `50` could mean milliseconds or seconds, and a
    /// wrong guess changes failure detection or replication lag by a factor of 1000.
    static func duration(
        _ node: Node, label: String, inMilliseconds range: ClosedRange<Int>, problems: inout ProblemCollector
    ) -> Int? {
        if let bare = plainInteger(node) {
            problems.report(
                "\(label) must be a duration with a unit (ms or s), got the bare number \(bare); write \(bare)ms",
                at: node.mark)
            return nil
        }
        let expected = "a duration such as 50ms or 2s"
        guard let text = text(node, label: label, expected: expected, problems: &problems) else { return nil }
        guard let milliseconds = parseDuration(text) else {
            problems.report("\(label) must be \(expected) (only ms and s are accepted), got '\(text)'",
                            at: node.mark)
            return nil
        }
        guard range.contains(milliseconds) else {
            problems.report(
                "\(label) must be between \(formatDuration(range.lowerBound)) and "
                    + "\(formatDuration(range.upperBound)), got \(text)",
                at: node.mark)
            return nil
        }
        return milliseconds
    }

    /// Milliseconds of `<digits>ms` or `<digits>s`; nil for anything else or on overflow.
    static func parseDuration(_ text: String) -> Int? {
        let (digits, multiplier): (Substring, Int)
        if text.hasSuffix("ms") {
            (digits, multiplier) = (text.dropLast(2), 1)
        } else if text.hasSuffix("s") {
            (digits, multiplier) = (text.dropLast(1), 1000)
        } else {
            return nil
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = Int(digits) else { return nil }
        let (milliseconds, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : milliseconds
    }

    /// `2s` for whole seconds, `50ms` otherwise.
    static func formatDuration(_ milliseconds: Int) -> String {
        milliseconds % 1000 == 0 && milliseconds != 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }

    /// One of `choices`, with a suggestion when the value is a near miss.
    static func choice(
        _ node: Node, label: String, among choices: [String], problems: inout ProblemCollector
    ) -> String? {
        let expected = choices.map { "'\($0)'" }.joined(separator: " or ")
        guard let text = text(node, label: label, expected: expected, problems: &problems) else { return nil }
        guard choices.contains(text) else {
            problems.report(
                "\(label) must be \(expected), got '\(text)'" + KeySuggestion.hint(for: text, among: choices),
                at: node.mark)
            return nil
        }
        return text
    }

    /// Whether `name` is a valid grid or section name: `^[a-z][a-z0-9_-]{0,31}$`.
    ///
    /// Names end up in unit names, ZeroMQ service names, replication topics and
    /// file names, so they are kept short and free of separators and spaces.
    static func isValidName(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        guard let first = scalars.first, scalars.count <= 32, ("a"..."z").contains(first) else { return false }
        return scalars.dropFirst().allSatisfy { scalar in
            ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-"
        }
    }

    /// The rule a name breaks, for messages.
    static let nameRule = "must start with a lowercase letter and hold only lowercase letters, digits, "
        + "'_' and '-' (at most 32 characters)"

    /// The endpoint schemes ZeroMQ offers that the grid uses.
    static let endpointSchemes = ["tcp://", "ipc://", "inproc://"]

    /// A ZeroMQ endpoint: `tcp://host:port`, `ipc://path` or `inproc://name`.
    static func endpoint(_ node: Node, label: String, problems: inout ProblemCollector) -> String? {
        let expected = "a ZeroMQ endpoint such as tcp://127.0.0.1:5570"
        guard let text = text(node, label: label, expected: expected, problems: &problems) else { return nil }
        guard let scheme = endpointSchemes.first(where: { text.hasPrefix($0) }) else {
            problems.report(
                "\(label) must start with tcp://, ipc:// or inproc://, got '\(text)'", at: node.mark)
            return nil
        }
        let address = text.dropFirst(scheme.count)
        guard !address.isEmpty else {
            problems.report("\(label) has no address after \(scheme)", at: node.mark)
            return nil
        }
        if scheme == "tcp://" {
            // ZeroMQ needs both a host (or interface, or *) and a port (or * for an ephemeral one).
            guard let colon = address.lastIndex(of: ":"), colon != address.startIndex else {
                problems.report(
                    "\(label) must name a host and a port, as in tcp://127.0.0.1:5570, got '\(text)'",
                    at: node.mark)
                return nil
            }
            let port = address[address.index(after: colon)...]
            let validPort = port == "*" || (port.allSatisfy { $0.isASCII && $0.isNumber }
                && Int(port).map { (1...65535).contains($0) } == true)
            guard validPort else {
                problems.report("\(label) must end with a port from 1 to 65535, got '\(text)'", at: node.mark)
                return nil
            }
        }
        return text
    }
}
