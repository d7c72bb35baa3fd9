import GRDB

/// Why a write-behind store could not do what was asked: a stable `code` a program
/// matches, and a `message` a person reads.
///
/// The mirror retries `unreachable` and `unwritable` with back-off (the database may
/// come back); `corrupt` and `bad_section` need a person.
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// The database cannot be opened or reached now: missing folder, file moved away,
        /// locked by another process beyond the busy timeout, I/O error.
        case unreachable
        /// The database is there but refuses writes: read-only file, disk full, permission denied.
        case unwritable
        /// The file is not a database, or its content is damaged.
        case corrupt
        /// A section name that is not `^[a-z][a-z0-9_-]{0,31}$`, or a row of another section.
        case badSection = "bad_section"
        /// Anything else.
        case failed
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// Maps an error thrown by GRDB (or by SQLite through it) to a stable code.
    init(_ error: any Error, doing what: String) {
        if let store = error as? StoreError {
            self = store
            return
        }
        guard let database = error as? DatabaseError else {
            self.init(.failed, "\(what): \(error)")
            return
        }
        let code: Code
        switch database.resultCode {
        case .SQLITE_CANTOPEN, .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_IOERR, .SQLITE_NOLFS:
            code = .unreachable
        case .SQLITE_READONLY, .SQLITE_FULL, .SQLITE_PERM, .SQLITE_AUTH:
            code = .unwritable
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            code = .corrupt
        default:
            code = .failed
        }
        let detail = database.message ?? "SQLite error \(database.extendedResultCode.rawValue)"
        self.init(code, "\(what): \(detail) (SQLite code \(database.extendedResultCode.rawValue))")
    }
}
