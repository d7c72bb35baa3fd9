import Foundation
import GridStore
import GridTopology

/// How a process of the grid reaches the topology's database: the mirror writes
/// through it, units read from it on a cold start (DESIGN.md section 6).
public struct GridDatabase: Sendable {
    /// Opens a new store (each caller owns what it opens, on its own thread).
    public let open: @Sendable () throws(StoreError) -> any WriteBehindStore
    /// Where it is, safe to print: a file path, or the URL without its password.
    public let summary: String

    /// - Throws: `DatabaseConfigError` when a PostgreSQL URL's environment variable is unset.
    public init(config: DatabaseConfig, grid: String, runFolder: String,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws(DatabaseConfigError) {
        switch config.backend {
        case .sqlite:
            let path = config.sqlitePath(grid: grid, runFolder: runFolder)
            summary = "sqlite \(path)"
            open = { () throws(StoreError) -> any WriteBehindStore in
                // The run folder may not exist yet when a unit starts before `up` made it.
                try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                return try SQLiteStore(path: path)
            }
        case .postgres:
            let url = try config.resolvedURL(environment: environment)
            summary = "postgres \(DatabaseConfig.redacting(url: url))"
            // A statement unanswered for 10 s drops the connection and fails the batch, so a
            // server that vanished mid-transaction shows as a failure, not as a silent wait.
            open = { () throws(StoreError) -> any WriteBehindStore in try PostgresStore(url: url, connectTimeout: 5, requestTimeout: 10) }
        }
    }

    public init(summary: String, open: @escaping @Sendable () throws(StoreError) -> any WriteBehindStore) {
        self.summary = summary
        self.open = open
    }
}
