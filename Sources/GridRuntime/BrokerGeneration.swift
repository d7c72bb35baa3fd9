import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The broker's generation: one number in the run folder (`broker.generation`), one more
/// at every broker start, written and flushed to disk before the broker grants anything.
///
/// Why: the table is rebuilt from the units' reports after a restart, but a unit that
/// reports late (paused, slow) may hold a partition under an epoch the new broker has not
/// heard of. Every epoch a broker grants is above its generation shifted left by 16 bits
/// (`PartitionTable.epochFloor`), so a restarted broker never grants an epoch an earlier one
/// did, and a late holder's epoch is always recognisably older than a new grant. It is the
/// only state the broker keeps on disk; without a run folder (an in-process grid) the
/// generation is 0.
enum BrokerGeneration {
    static let fileName = "broker.generation"

    /// Reads the last generation, stores the next one durably, and returns it (0 for the
    /// first broker of a run folder, whose epochs start at 1).
    static func next(runFolder: String, logger: Logger) -> UInt64 {
        let path = (runFolder as NSString).appendingPathComponent(fileName)
        let last = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let next = last.map { $0 &+ 1 } ?? 0
        do {
            try FileManager.default.createDirectory(atPath: runFolder, withIntermediateDirectories: true)
            let temporary = path + ".tmp"
            try Data("\(next)\n".utf8).write(to: URL(fileURLWithPath: temporary))
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: temporary))
            try handle.synchronize()
            try handle.close()
            guard rename(temporary, path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path, "errno": errno])
            }
        } catch {
            // Without it a restarted broker might reuse an epoch: say so loudly, and still
            // take a generation above any the file could have held.
            logger.error("cannot store the broker generation; epochs of a later restart may collide", metadata: [
                "path": "\(path)", "error": "\(error)",
            ])
        }
        return next
    }
}
