import GridCore

/// A tiny seeded generator (SplitMix64), so randomized tests replay the same sequence every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// The UTF-8 bytes of a string, for keys and values.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The bytes as text, for readable assertion messages.
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
