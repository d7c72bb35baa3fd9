/// FNV-1a, 64 bit, over bytes: the grid's partitioning hash.
///
/// Chosen because any client in any language can compute it in five lines,
/// and because it is stable across processes (Swift's `Hasher` is seeded per
/// process and must never decide a partition).
///
///     hash = 0xcbf29ce484222325
///     for byte in key.utf8 { hash = (hash ^ byte) &* 0x100000001b3 }
///     partition = hash % partitionCount
public enum FNV1a {
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01b3

    @inlinable
    public static func hash<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var hash = offsetBasis
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* prime
        }
        return hash
    }

    @inlinable
    public static func hash(_ string: String) -> UInt64 {
        hash(string.utf8)
    }
}
