import GridCore

/// The UTF-8 bytes of a string, for keys and values.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The bytes as text, for readable assertion messages.
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
