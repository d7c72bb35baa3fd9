import GridCore
import GridStore

// Builders for the store tests of both backends: rows, batches and watermarks as the
// mirror hands them to a `WriteBehindStore`.

func row(_ key: [UInt8], _ value: [UInt8]?, version: UInt64, partition: Int = 0, section: String = "customer") -> WriteBehindBuffer.Row {
    WriteBehindBuffer.Row(section: section, partition: partition, key: key, value: value, version: version)
}

/// Watermarks given as sequences carry epoch 0.
func batch(_ id: UInt64, _ rows: [WriteBehindBuffer.Row], watermarks: [Int: UInt64], replacing: Set<Int> = []) -> WriteBehindBuffer.Batch {
    batch(id, rows, marks: watermarks.mapValues { WriteBehindBuffer.Watermark(sequence: $0) }, replacing: replacing)
}

func batch(_ id: UInt64, _ rows: [WriteBehindBuffer.Row], marks: [Int: WriteBehindBuffer.Watermark], replacing: Set<Int> = []) -> WriteBehindBuffer.Batch {
    WriteBehindBuffer.Batch(id: id, attempt: 1, rows: rows, watermarks: marks, changes: rows.count, replacing: replacing)
}

func mark(_ sequence: UInt64, epoch: UInt64) -> WriteBehindBuffer.Watermark {
    WriteBehindBuffer.Watermark(sequence: sequence, epoch: epoch)
}

func stored(_ sequence: UInt64, epoch: UInt64, sealed: Bool = false) -> StoredWatermark {
    StoredWatermark(sequence: sequence, epoch: epoch, sealed: sealed)
}
