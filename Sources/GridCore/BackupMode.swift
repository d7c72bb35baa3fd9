/// How a section's primaries replicate to their backups (DESIGN.md section 5).
public enum BackupMode: String, Sendable, Equatable, CaseIterable {
    /// The primary replies only after every backup acknowledged the change.
    case sync
    /// The primary replies at once and flushes changes to backups every replication interval.
    case async
}
