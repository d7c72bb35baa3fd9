import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The unit counts `grid scale` set, kept in the run folder (`broker.scale`, one
/// `section count` line each) so that a restarted broker expects every unit the grid
/// has: with only the topology's count it would place partitions as soon as that many
/// units reported, and start afresh the ones held only by the units added since
/// (losing what the database did not hold yet). `spacegrid up` removes the file when it
/// starts a grid, so a new grid begins at the topology's counts.
public enum SectionScaleFile {
    static let fileName = "broker.scale"

    static func path(_ runFolder: String) -> String { (runFolder as NSString).appendingPathComponent(fileName) }

    /// The counts stored, by section (none when there is no file or a line is unreadable).
    public static func load(runFolder: String) -> [String: Int] {
        guard let text = try? String(contentsOfFile: path(runFolder), encoding: .utf8) else { return [:] }
        var counts: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let count = Int(parts[1]), count >= 1 else { continue }
            counts[String(parts[0])] = count
        }
        return counts
    }

    /// Stores the counts durably (written to a temporary file, flushed, renamed).
    public static func store(runFolder: String, counts: [String: Int]) throws {
        let target = path(runFolder)
        let temporary = target + ".tmp"
        let text = counts.keys.sorted().map { "\($0) \(counts[$0]!)\n" }.joined()
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: temporary))
        try handle.synchronize()
        try handle.close()
        guard rename(temporary, target) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    /// Forgets the counts (a new grid starts at the topology's).
    public static func remove(runFolder: String) {
        unlink(path(runFolder))
    }
}
