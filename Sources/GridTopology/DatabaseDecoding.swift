import Yams

/// Reads the optional `database` mapping: the write-behind's backend, where
/// it is, and how changes are batched.
///
/// Which keys belong depends on the backend: SQLite is a file, so it takes
/// `path` and refuses `url`/`url_env`; PostgreSQL is a server, so it takes
/// exactly one of `url` (the URL itself) or `url_env` (the environment
/// variable holding it) and refuses `path`. A key given to the wrong backend
/// is reported rather than ignored, since it almost always means the backend
/// line is missing or wrong.
extension TopologyDecoder {
    /// The keys of the `database` mapping, in documentation order.
    static let databaseKeys = ["backend", "path", "url", "url_env", "batch", "max_delay"]

    /// The keys that only PostgreSQL takes.
    static let postgresOnlyKeys = ["url", "url_env"]

    /// The `database` field of the root: `.some(nil)` when absent (no
    /// write-behind), `.some(config)` when valid, nil after reporting why not.
    mutating func decodeDatabaseField(_ fields: FieldMapping) -> DatabaseConfig?? {
        guard let field = fields["database"] else { return .some(nil) }
        if case let .scalar(scalar) = field.value, ScalarReading.isNull(scalar) {
            problems.report(
                "database must be a mapping of keys to values, got nothing; write 'database: {}' "
                    + "for SQLite with every default, or leave the key out for no write-behind",
                at: field.value.mark)
            return nil
        }
        guard let mapping = FieldMapping.mapping(field.value, what: "database", problems: &problems),
              let database = decodeDatabase(mapping)
        else { return nil }
        return .some(database)
    }

    /// The database's configuration, or nil when some part could not be read.
    mutating func decodeDatabase(_ mapping: Node.Mapping) -> DatabaseConfig? {
        let fields = FieldMapping(
            mapping, context: "database", allowed: Self.databaseKeys,
            placeholders: placeholders, problems: &problems)

        let backend = fields.optional("backend", default: DatabaseConfig.Backend.sqlite, problems: &problems) {
            ScalarReading.choice($0, label: "database: backend",
                                 among: DatabaseConfig.Backend.allCases.map(\.rawValue), problems: &$1)
                .flatMap(DatabaseConfig.Backend.init(rawValue:))
        }
        let batch = fields.optional("batch", default: DatabaseConfig.defaultBatch, problems: &problems) {
            ScalarReading.integer($0, label: "database: batch", in: DatabaseConfig.batchRange, problems: &$1)
        }
        let maxDelay = fields.optional(
            "max_delay", default: DatabaseConfig.defaultMaxDelayMilliseconds, problems: &problems
        ) { node, problems in
            ScalarReading.duration(node, label: "database: max_delay",
                                   inMilliseconds: DatabaseConfig.maxDelayMillisecondsRange, problems: &problems)
        }

        var valid = true
        var path: String?
        var url: String?
        var urlEnvironment: String?
        switch backend {
        case .sqlite?:
            let named = fields["backend"] == nil ? "sqlite (the default backend)" : "sqlite"
            for key in Self.postgresOnlyKeys {
                guard let field = fields[key] else { continue }
                problems.report(
                    "database: \(key) is only allowed with 'backend: postgres'; this database uses \(named), "
                        + "which is a file named by path",
                    at: field.keyMark)
                valid = false
            }
            if let field = fields["path"] {
                path = decodeDatabasePath(field.value)
                valid = valid && path != nil
            }
        case .postgres?:
            if let field = fields["path"] {
                problems.report(
                    "database: path is only allowed with 'backend: sqlite'; postgres is reached through "
                        + "url or url_env",
                    at: field.keyMark)
                valid = false
            }
            let given = Self.postgresOnlyKeys.compactMap { fields[$0] }
            switch given.count {
            case 0:
                problems.report(
                    "database is missing the required key 'url' or 'url_env' (postgres needs the server's URL, "
                        + "or the name of the environment variable that holds it)",
                    at: fields.mark)
                valid = false
            case 1:
                break
            default:
                // Point at whichever comes second in the file: that is the extra one.
                let later = given.max { Self.isBefore($0.keyMark, $1.keyMark) }
                problems.report(
                    "database: give url or url_env, not both (url_env keeps the password out of the file)",
                    at: later?.keyMark)
                valid = false
            }
            if let field = fields["url"] {
                url = decodeDatabaseURL(field.value)
                valid = valid && url != nil
            }
            if let field = fields["url_env"] {
                urlEnvironment = decodeDatabaseURLEnvironment(field.value)
                valid = valid && urlEnvironment != nil
            }
        case nil:
            // An unknown backend: which keys belong is unclear, so only check each value by itself.
            if let field = fields["path"] { _ = decodeDatabasePath(field.value) }
            if let field = fields["url"] { _ = decodeDatabaseURL(field.value) }
            if let field = fields["url_env"] { _ = decodeDatabaseURLEnvironment(field.value) }
            valid = false
        }

        guard valid, let backend, let batch, let maxDelay else { return nil }
        return DatabaseConfig(
            backend: backend, path: path, url: url, urlEnvironment: urlEnvironment,
            batch: batch, maxDelayMilliseconds: maxDelay)
    }

    /// SQLite's file: any non-empty path.
    mutating func decodeDatabasePath(_ node: Node) -> String? {
        guard let path = ScalarReading.text(node, label: "database: path",
                                            expected: "a file path such as trading.sqlite", problems: &problems)
        else { return nil }
        guard !path.allSatisfy(\.isWhitespace) else {
            problems.report(
                "database: path must not be empty; leave it out for the default <grid>.sqlite in the run folder",
                at: node.mark)
            return nil
        }
        return path
    }

    /// PostgreSQL's URL: `postgres://...` or `postgresql://...`.
    ///
    /// Messages show the value with any password replaced by `***`.
    mutating func decodeDatabaseURL(_ node: Node) -> String? {
        guard let url = ScalarReading.text(
            node, label: "database: url", expected: "a URL such as postgres://spacegrid@127.0.0.1:5432/spacegrid",
            problems: &problems)
        else { return nil }
        guard DatabaseConfig.postgresSchemes.contains(where: url.hasPrefix) else {
            problems.report(
                "database: url must start with postgres:// or postgresql://, "
                    + "got '\(DatabaseConfig.redacting(url: url))'",
                at: node.mark)
            return nil
        }
        return url
    }

    /// The name of the environment variable holding PostgreSQL's URL.
    mutating func decodeDatabaseURLEnvironment(_ node: Node) -> String? {
        guard let name = ScalarReading.text(
            node, label: "database: url_env", expected: "an environment variable name such as SPACEGRID_DATABASE_URL",
            problems: &problems)
        else { return nil }
        guard Self.isEnvironmentVariableName(name) else {
            var message = "database: url_env must be the name of an environment variable (a letter or '_', "
                + "then letters, digits or '_'), got '\(DatabaseConfig.redacting(url: name))'"
            // `$NAME` and `${NAME}` are how a shell reads the variable; the topology wants the name itself.
            var bare = name.trimmingPrefix("$").trimmingPrefix("{")
            if bare.hasSuffix("}") { bare = bare.dropLast() }
            if name.hasPrefix("$"), Self.isEnvironmentVariableName(String(bare)) {
                message += "; write the name without '$'"
            } else if name.contains("://") {
                message += "; write the URL itself under url, or put it in a variable and name that here"
            }
            problems.report(message, at: node.mark)
            return nil
        }
        return name
    }

    /// Whether `name` matches `^[A-Za-z_][A-Za-z0-9_]*$`.
    static func isEnvironmentVariableName(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        func isLetter(_ scalar: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "_"
        }
        guard let first = scalars.first, isLetter(first) else { return false }
        return scalars.dropFirst().allSatisfy { isLetter($0) || ("0"..."9").contains($0) }
    }

    /// Whether `lhs` comes before `rhs` in the file (missing marks sort first).
    static func isBefore(_ lhs: Mark?, _ rhs: Mark?) -> Bool {
        let left = (lhs?.line ?? 0, lhs?.column ?? 0)
        let right = (rhs?.line ?? 0, rhs?.column ?? 0)
        return left < right
    }
}
