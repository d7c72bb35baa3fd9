import Foundation
import ZeroMQ

/// Why a key file could not be used; names the file, and the line when it is malformed.
public struct KeyFileError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }
}

/// A folder of CURVE key files (PROTOCOL.md 12): `NAME.key` holds a key pair (secret: mode
/// 0600, only on the machine that uses it), `NAME.pub` its public half. `grid.key` is the
/// servers' pair (the broker and every unit); every `*.pub` in the folder is allowed to connect.
public struct KeyFolder: Sendable {
    public let path: String
    /// The name of the servers' key pair.
    public static let serverKeyName = "grid"

    public init(path: String) {
        self.path = path
    }

    /// The path of `NAME` + `suffix` (`.key`, `.pub`) in the folder.
    public func file(_ name: String, _ suffix: String) -> String { (path as NSString).appendingPathComponent(name + suffix) }

    /// Whether the folder holds `NAME.key`.
    public func hasKeyPair(named name: String) -> Bool {
        FileManager.default.fileExists(atPath: file(name, ".key"))
    }

    /// The pair in `NAME.key`, its secret checked against its public key.
    public func keyPair(named name: String) throws(KeyFileError) -> CurveKeyPair {
        let path = file(name, ".key")
        let fields = try Self.read(path, want: ["public", "secret"])
        guard let publicKey = fields["public"], let secretKey = fields["secret"] else {
            throw KeyFileError("\(path): a key pair needs both 'public = \"...\"' and 'secret = \"...\"'")
        }
        guard CurveKeyPair.publicKey(ofSecret: secretKey) == publicKey else {
            throw KeyFileError("\(path): the secret key does not belong to the public key (a damaged or mixed-up file)")
        }
        return CurveKeyPair(publicKey: publicKey, secretKey: secretKey)
    }

    /// The public key in `NAME.pub`, else the public half of `NAME.key`.
    public func publicKey(named name: String) throws(KeyFileError) -> String {
        let path = file(name, ".pub")
        guard FileManager.default.fileExists(atPath: path) || !hasKeyPair(named: name) else { return try keyPair(named: name).publicKey }
        guard let key = try Self.read(path, want: ["public"])["public"] else {
            throw KeyFileError("\(path): no 'public = \"...\"' line")
        }
        return key
    }

    /// Every public key of the folder's `*.pub` files; unreadable or malformed files are left out.
    public func allowedKeys() -> Set<String> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        var keys: Set<String> = []
        for name in names where name.hasSuffix(".pub") {
            if let key = try? Self.read((path as NSString).appendingPathComponent(name), want: ["public"])["public"] { keys.insert(key) }
        }
        return keys
    }

    /// Whether `name` may name a key file: a lowercase letter or digit, then lowercase
    /// letters, digits, `-` and `_` (no path separators), at most 64 characters.
    public static func isValidName(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        guard let first = scalars.first, scalars.count <= 64,
              ("a"..."z").contains(first) || ("0"..."9").contains(first) else { return false }
        return scalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
    }

    /// Writes `NAME.key` (mode 0600) and `NAME.pub` into `folder` (made 0700 when missing);
    /// never replaces an existing file unless `replacing`.
    public static func write(_ pair: CurveKeyPair, name: String, folder: String, replacing: Bool = false) throws(KeyFileError) {
        guard isValidName(name) else {
            throw KeyFileError("'\(name)' is not a key name: use lowercase letters, digits, '-' and '_', starting with a letter or digit")
        }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw KeyFileError("cannot create the folder \(folder): \(error.localizedDescription)")
        }
        let keys = KeyFolder(path: folder)
        let secretPath = keys.file(name, ".key"), publicPath = keys.file(name, ".pub")
        if !replacing, let existing = [secretPath, publicPath].first(where: { FileManager.default.fileExists(atPath: $0) }) {
            throw KeyFileError("\(existing) exists: a key pair is never replaced silently (--force replaces it)")
        }
        let secretText = "# SpaceGrid CURVE key pair '\(name)': keep this file secret.\npublic = \"\(pair.publicKey)\"\nsecret = \"\(pair.secretKey)\"\n"
        let publicText = "# SpaceGrid CURVE public key '\(name)'.\npublic = \"\(pair.publicKey)\"\n"
        try create(secretPath, secretText, mode: 0o600)
        try create(publicPath, publicText, mode: 0o644)
    }

    private static func create(_ path: String, _ text: String, mode: Int) throws(KeyFileError) {
        // Made with its mode from the start: a secret is never readable by others, not even briefly.
        try? FileManager.default.removeItem(atPath: path)
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw KeyFileError("cannot write \(path)")
        }
    }

    /// `key = "value"` lines of a key file; blank lines and `#` comments are skipped.
    static func read(_ path: String, want: Set<String>) throws(KeyFileError) -> [String: String] {
        guard FileManager.default.fileExists(atPath: path) else { throw KeyFileError("\(path): no such key file (spacegrid keys generate makes one)") }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw KeyFileError("\(path): cannot read it (permissions?)")
        }
        var fields: [String: String] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, parts[1].count >= 2, parts[1].hasPrefix("\""), parts[1].hasSuffix("\"") else {
                throw KeyFileError("\(path):\(index + 1): expected 'name = \"value\"', got '\(line)'")
            }
            let value = String(parts[1].dropFirst().dropLast())
            guard want.contains(parts[0]) || parts[0] == "public" || parts[0] == "secret" else {
                throw KeyFileError("\(path):\(index + 1): unknown field '\(parts[0])' (a key file has 'public' and 'secret')")
            }
            guard Z85.decode(value) != nil else {
                throw KeyFileError("\(path):\(index + 1): '\(parts[0])' must be 40 Z85 characters (a 32-byte key), got \(value.count) characters")
            }
            fields[parts[0]] = value
        }
        return fields
    }
}
