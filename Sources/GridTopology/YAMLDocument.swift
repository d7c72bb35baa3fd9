import Yams

/// The YAML tree of a topology, parsed but not yet validated.
///
/// Parsing is its own step because Yams reports two kinds of failure that the
/// validator never sees: syntax errors (which end the parse) and duplicate
/// keys (which Yams also treats as fatal). Both become problems with a line
/// and a column here. Duplicate keys are recovered from, so that one repeated
/// key does not hide every other problem in the file: the repeated key is
/// reported, replaced in the text by a placeholder key, and the text parsed
/// again. The decoder skips placeholder keys silently.
struct YAMLDocument {
    /// The root node; nil when the text holds no document or could not be parsed.
    var root: Node?
    /// Keys that stand in for reported duplicates; the decoder ignores them.
    var placeholderKeys: Set<String>

    /// How many duplicate keys are recovered from before giving up on the file.
    static let maximumDuplicateRecoveries = 64

    /// Parses `text`, reporting syntax errors and duplicate keys to `problems`.
    static func parse(_ text: String, into problems: inout ProblemCollector) -> YAMLDocument {
        var text = text
        var placeholders: Set<String> = []
        for attempt in 0..<maximumDuplicateRecoveries {
            do {
                let root = try Yams.compose(yaml: text)
                return YAMLDocument(root: root, placeholderKeys: placeholders)
            } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
                let key = duplicates.first ?? "?"
                var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                guard let repeated = findRepeat(of: key, after: context.mark, in: lines) else {
                    // A flow mapping or an unusual key: say where the first one is and stop.
                    problems.report(
                        "duplicate key '\(key)': a key may appear only once in a mapping",
                        at: context.mark)
                    return YAMLDocument(root: nil, placeholderKeys: placeholders)
                }
                problems.report(
                    "duplicate key '\(key)': it is already given at line \(context.mark.line); "
                        + "a key may appear only once in a mapping",
                    line: repeated.line, column: repeated.column)
                let placeholder = "__spacegrid_duplicate_\(attempt)__"
                placeholders.insert(placeholder)
                var scalars = Array(lines[repeated.line - 1].unicodeScalars)
                scalars.replaceSubrange(
                    (repeated.column - 1)..<(repeated.column - 1 + repeated.length),
                    with: placeholder.unicodeScalars)
                lines[repeated.line - 1] = String(String.UnicodeScalarView(scalars))
                text = lines.joined(separator: "\n")
            } catch let error as YamlError {
                report(error, into: &problems)
                return YAMLDocument(root: nil, placeholderKeys: placeholders)
            } catch {
                problems.report("cannot parse the topology: \(error)", line: 0, column: 0)
                return YAMLDocument(root: nil, placeholderKeys: placeholders)
            }
        }
        problems.report(
            "too many duplicate keys (more than \(maximumDuplicateRecoveries)); fix these first",
            line: 0, column: 0)
        return YAMLDocument(root: nil, placeholderKeys: placeholders)
    }

    /// Where a key written again in the same block mapping is, and its length in the text.
    struct KeyOccurrence {
        var line: Int
        var column: Int
        var length: Int
    }

    /// Finds the second occurrence of `key` in the block mapping whose first
    /// occurrence is at `first`.
    ///
    /// Yams only gives the position of the first occurrence, but the user needs
    /// the second one (the first is usually fine). In a block mapping every key
    /// starts at the same column, so the repeat is the next line, before the
    /// mapping's indentation ends, that starts with the key (plain or quoted)
    /// at that column followed by a colon. Nil for flow mappings and anything
    /// the scan does not recognise.
    static func findRepeat(of key: String, after first: Mark, in lines: [String]) -> KeyOccurrence? {
        let indent = first.column - 1
        guard indent >= 0, first.line >= 1 else { return nil }
        let forms = [key, "'\(key)'", "\"\(key)\""]
        var index = first.line  // The line after the first occurrence (lines are 0-based here).
        while index < lines.count {
            defer { index += 1 }
            var scalars = Array(lines[index].unicodeScalars)
            if scalars.last == "\r" { scalars.removeLast() }
            let leading = scalars.prefix { $0 == " " }.count
            if leading == scalars.count || scalars[leading] == "#" { continue }  // Blank or comment.
            if leading < indent { return nil }  // The mapping ended.
            if leading > indent { continue }  // Nested content.
            let rest = Array(scalars[leading...])
            for form in forms {
                let formScalars = Array(form.unicodeScalars)
                guard rest.starts(with: formScalars) else { continue }
                let after = rest.dropFirst(formScalars.count).drop { $0 == " " || $0 == "\t" }
                guard after.first == ":" else { continue }
                let next = after.dropFirst().first
                if next == nil || next == " " || next == "\t" {
                    return KeyOccurrence(line: index + 1, column: leading + 1, length: formScalars.count)
                }
            }
        }
        return nil
    }

    /// Turns a Yams error into a problem at the position Yams gives.
    static func report(_ error: YamlError, into problems: inout ProblemCollector) {
        switch error {
        case let .scanner(context, problem, mark, _),
             let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            // libyaml's contexts are either "while parsing ..." (where the construct
            // started) or the first half of a sentence the problem completes.
            var message = "YAML syntax error: \(problem)"
            if let context {
                if context.text.hasPrefix("while") {
                    message += " (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
                } else {
                    message = "YAML syntax error: \(context.text) \(problem)"
                }
            }
            problems.report(message, at: mark)
        case let .reader(problem, offset, _, yaml):
            let position = offset.map { lineAndColumn(ofCharacterOffset: $0, in: yaml) } ?? (0, 0)
            problems.report("cannot read the YAML text: \(problem)", line: position.0, column: position.1)
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            problems.report("duplicate key \(keys): a key may appear only once in a mapping", at: context.mark)
        default:
            problems.report("cannot parse the topology: \(error)", line: 0, column: 0)
        }
    }

    /// The 1-based line and column of the character at `offset` in `text`.
    static func lineAndColumn(ofCharacterOffset offset: Int, in text: String) -> (Int, Int) {
        var line = 1
        var column = 1
        for (index, character) in text.enumerated() {
            if index >= offset { break }
            if character == "\n" || character == "\r\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }
}
