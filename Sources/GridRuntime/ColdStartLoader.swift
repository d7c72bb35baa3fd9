import Foundation
import GridCore
import GridStore
import Synchronization

/// Loads partitions of one section from the database on a thread of its own
/// (DESIGN.md section 6, cold start): a unit given a primary lease for a partition
/// it holds nothing of fills it from what the mirror stored.
///
/// Why a thread: reading a million rows takes seconds, and the unit's loop must
/// keep heartbeating meanwhile or the broker would declare it dead. The loop
/// asks `result` each turn and installs the partitions when it is there.
final class ColdStartLoader: Sendable {
    struct Loaded: Sendable {
        /// Per partition, its entries and the sequence to continue from (`continuation`).
        var partitions: [Int: (entries: EntryTable, sequence: UInt64)]
        var entries: Int
        var milliseconds: UInt64
    }

    let partitions: Set<Int>

    /// Where a loaded partition's sequence goes on. Sealed (a unit stopped politely once the
    /// database held everything it led): exactly after it. Otherwise the grid may have issued
    /// versions the database never saw (a crash, a mirror backlog): 2^32 above, so no version
    /// a client saw is issued again. A partition the database never held starts at 0.
    static func continuation(_ stored: StoredWatermark?, highestVersion: UInt64) -> UInt64 {
        let held = max(stored?.sequence ?? 0, highestVersion)
        guard held > 0, stored?.sealed != true else { return held }
        return held &+ PartitionTable.lossJump
    }

    private let loadedCount = Atomic<Int>(0)
    private let outcome = Mutex<Result<Loaded, StoreError>?>(nil)

    init(section: String, partitions: Set<Int>, open: @escaping @Sendable () throws(StoreError) -> any WriteBehindStore) {
        self.partitions = partitions
        let thread = Thread { [self] in
            let result = Result { () throws(StoreError) -> Loaded in try load(section: section, open: open) }
            outcome.withLock { $0 = result }
        }
        thread.name = "cold-start-\(section)"
        thread.start()
    }

    /// Entries read so far.
    var loaded: Int { loadedCount.load(ordering: .relaxed) }

    /// The load's outcome once it ended (taken once).
    func take() -> Result<Loaded, StoreError>? {
        outcome.withLock { value in
            defer { value = nil }
            return value
        }
    }

    private func load(section: String, open: @Sendable () throws(StoreError) -> any WriteBehindStore) throws(StoreError) -> Loaded {
        let start = DispatchTime.now().uptimeNanoseconds
        let store = try open()
        let watermarks = try store.watermarks(section: section)
        var tables: [Int: EntryTable] = [:]
        var highest: [Int: UInt64] = [:]
        var count = 0
        try store.scan(section: section, partitions: partitions) { partition, key, value, version in
            tables[partition, default: [:]].update(key, value, version: version)
            highest[partition] = max(highest[partition] ?? 0, version)
            count += 1
            if count & 0xfff == 0 { loadedCount.store(count, ordering: .relaxed) }
        }
        loadedCount.store(count, ordering: .relaxed)
        var result: [Int: (entries: EntryTable, sequence: UInt64)] = [:]
        for partition in partitions {
            result[partition] = (tables.removeValue(forKey: partition) ?? [:],
                                 Self.continuation(watermarks[partition], highestVersion: highest[partition] ?? 0))
        }
        return Loaded(partitions: result, entries: count, milliseconds: (DispatchTime.now().uptimeNanoseconds - start) / 1_000_000)
    }
}
