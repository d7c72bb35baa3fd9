/// Where the grid's write-behind persists changes, and how it batches them.
///
/// The `database:` section of a topology is optional: without it the grid
/// keeps its data in memory only. With it, every change a primary accepts is
/// also queued and written to this database in batches, at most `batch` rows
/// per transaction and no later than `maxDelayMilliseconds` after the change.
/// SQLite needs nothing but a file; PostgreSQL is reached through a URL that
/// the topology gives directly or, so that no password sits in a file, names
/// the environment variable of.
public struct DatabaseConfig: Sendable, Equatable {
    /// The database engines the write-behind can target.
    public enum Backend: String, Sendable, Equatable, CaseIterable {
        /// A single file on the local disk, through SQLite.
        case sqlite
        /// A PostgreSQL server.
        case postgres
    }

    /// Which engine to write to.
    public var backend: Backend
    /// SQLite: the file as the topology wrote it; nil for the default `<grid>.sqlite`.
    public var path: String?
    /// PostgreSQL: the server's URL, when the topology gives it directly.
    public var url: String?
    /// PostgreSQL: the environment variable holding the server's URL, when the topology names one.
    public var urlEnvironment: String?
    /// The most rows written in one database transaction.
    public var batch: Int
    /// The longest a change waits in the queue before its batch is written.
    public var maxDelayMilliseconds: Int

    /// Rows per transaction when the topology names none.
    public static let defaultBatch = 1000
    /// Accepted batch sizes.
    public static let batchRange = 1...100_000
    /// The longest wait when the topology names none.
    public static let defaultMaxDelayMilliseconds = 100
    /// Accepted waits, from 1ms to 60s.
    public static let maxDelayMillisecondsRange = 1...60_000
    /// The URL schemes a PostgreSQL URL may start with.
    public static let postgresSchemes = ["postgres://", "postgresql://"]

    public init(
        backend: Backend = .sqlite,
        path: String? = nil,
        url: String? = nil,
        urlEnvironment: String? = nil,
        batch: Int = DatabaseConfig.defaultBatch,
        maxDelayMilliseconds: Int = DatabaseConfig.defaultMaxDelayMilliseconds
    ) {
        self.backend = backend
        self.path = path
        self.url = url
        self.urlEnvironment = urlEnvironment
        self.batch = batch
        self.maxDelayMilliseconds = maxDelayMilliseconds
    }

    /// SQLite: the database file's path.
    ///
    /// `path` as written (or `<grid>.sqlite` when the topology names none),
    /// resolved against `runFolder` unless it is absolute, so the same topology
    /// keeps its database beside the rest of the grid's run files wherever it
    /// is started from.
    public func sqlitePath(grid: String, runFolder: String) -> String {
        let file = path ?? "\(grid).sqlite"
        if file.hasPrefix("/") || runFolder.isEmpty { return file }
        return runFolder.hasSuffix("/") ? runFolder + file : runFolder + "/" + file
    }

    /// PostgreSQL: the server's URL.
    ///
    /// `url` when the topology gives it, otherwise the value of the environment
    /// variable `urlEnvironment` names, read from `environment` (pass
    /// `ProcessInfo.processInfo.environment`). Throws when the variable is
    /// unset, empty or holds something other than a PostgreSQL URL, and when
    /// the configuration names no URL at all (SQLite, or a hand-built value).
    /// Messages never include a password.
    public func resolvedURL(environment: [String: String]) throws(DatabaseConfigError) -> String {
        if let url { return url }
        guard let name = urlEnvironment else {
            throw DatabaseConfigError(
                backend == .postgres
                    ? "the postgres database names neither url nor url_env"
                    : "the \(backend.rawValue) database has no URL; only postgres is reached through one")
        }
        guard let value = environment[name] else {
            throw DatabaseConfigError(
                "the environment variable \(name) is not set; the topology's database section (url_env) "
                    + "reads the postgres URL from it, as in \(name)=postgres://user:password@host:5432/database")
        }
        guard !value.allSatisfy(\.isWhitespace) else {
            throw DatabaseConfigError(
                "the environment variable \(name) is empty; the topology's database section (url_env) "
                    + "reads the postgres URL from it, as in \(name)=postgres://user:password@host:5432/database")
        }
        guard Self.postgresSchemes.contains(where: value.hasPrefix) else {
            throw DatabaseConfigError(
                "the environment variable \(name) must hold a URL starting with postgres:// or postgresql://, "
                    + "got '\(Self.redacting(url: value))'")
        }
        return value
    }

    /// What to print about the database: `sqlite trading.sqlite` (the path as
    /// written; `sqlitePath(grid:runFolder:)` gives the resolved one),
    /// `postgres postgres://spacegrid:***@127.0.0.1:5432/spacegrid` or
    /// `postgres (URL from $SPACEGRID_DATABASE_URL)`. Never holds a password.
    public var summary: String {
        switch backend {
        case .sqlite:
            return "sqlite " + (path ?? "(default file <grid>.sqlite)")
        case .postgres:
            if let url { return "postgres " + Self.redacting(url: url) }
            if let urlEnvironment { return "postgres (URL from $\(urlEnvironment))" }
            return "postgres (no URL)"
        }
    }

    /// `url` with its password, if any, replaced by `***`: both the one in the
    /// user information (`user:secret@host`) and a `password=` query parameter.
    ///
    /// Errs on the side of hiding: the user information runs to the last `@`
    /// before the query, so a password holding an unescaped `@` or `/` is
    /// still hidden whole, and text without a scheme (`user:secret@host`, a
    /// URL missing its `postgres://`) is read the same way.
    public static func redacting(url: String) -> String {
        let schemeEnd = url.range(of: "://")?.upperBound ?? url.startIndex
        let queryStart = url[schemeEnd...].firstIndex(of: "?") ?? url.endIndex
        var result = String(url[..<schemeEnd])
        let beforeQuery = url[schemeEnd..<queryStart]
        if let at = beforeQuery.lastIndex(of: "@"),
           let colon = beforeQuery[..<at].firstIndex(of: ":") {
            result += String(beforeQuery[...colon]) + "***" + String(beforeQuery[at...])
        } else {
            result += beforeQuery
        }
        guard queryStart < url.endIndex else { return result }
        let parameters = url[url.index(after: queryStart)...].split(separator: "&", omittingEmptySubsequences: false)
        let redacted = parameters.map { parameter -> String in
            guard let equals = parameter.firstIndex(of: "="),
                  parameter[..<equals].lowercased() == "password" else { return String(parameter) }
            return String(parameter[...equals]) + "***"
        }
        return result + "?" + redacted.joined(separator: "&")
    }
}

/// Why a database configuration cannot be used as it stands (the URL's
/// environment variable is unset, for example); `message` says what to do.
public struct DatabaseConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, without any password.
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
