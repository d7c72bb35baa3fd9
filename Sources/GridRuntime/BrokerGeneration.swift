import Foundation

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
public enum BrokerGeneration {
    static let fileName = "broker.generation"

    /// Why a generation could not be taken: the broker must not start, since it could not
    /// promise that its epochs are new.
    public struct Failure: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "broker generation file \(path): \(reason)" }
    }

    /// Reads the last generation, stores the next one durably, and returns it (0 for the
    /// first broker of a run folder, whose epochs start at 1). A file that cannot be read
    /// or written stops the broker: guessing a generation could grant an epoch again.
    public static func next(runFolder: String) throws(Failure) -> UInt64 {
        let path = (runFolder as NSString).appendingPathComponent(fileName)
        var next: UInt64 = 0
        if FileManager.default.fileExists(atPath: path) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw Failure(path: path, reason: "cannot be read")
            }
            guard let last = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)), last < (1 << 47) else {
                throw Failure(path: path, reason: "holds '\(text.prefix(40))', not a generation; remove it only if no unit of the old grid still runs")
            }
            next = last + 1
        }
        do {
            try FileManager.default.createDirectory(atPath: runFolder, withIntermediateDirectories: true)
            let temporary = path + ".tmp"
            try Data("\(next)\n".utf8).write(to: URL(fileURLWithPath: temporary))
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: temporary))
            try handle.synchronize()
            try handle.close()
            guard rename(temporary, path) == 0 else {
                throw Failure(path: path, reason: "cannot be replaced (errno \(errno))")
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(path: path, reason: "cannot be written: \(error.localizedDescription)")
        }
        return next
    }
}
