import Foundation
import GridClient
import XCTest
import ZeroMQ

/// Key files: written with safe modes, read back, never replaced silently, and a damaged
/// file is named with its line.
final class KeyFolderTests: XCTestCase {
    private var folder: String!

    override func setUp() {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString.prefix(8))").path
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testAPairIsWrittenPrivateAndReadBack() throws {
        let pair = try CurveKeyPair.generate()
        try KeyFolder.write(pair, name: "client", folder: folder)
        let keys = KeyFolder(path: folder)
        XCTAssertEqual(try keys.keyPair(named: "client"), pair)
        XCTAssertEqual(try keys.publicKey(named: "client"), pair.publicKey)
        let mode = try FileManager.default.attributesOfItem(atPath: keys.file("client", ".key"))[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        XCTAssertThrowsError(try KeyFolder.write(try CurveKeyPair.generate(), name: "client", folder: folder)) { error in
            XCTAssertTrue("\(error)".contains("never replaced silently"), "\(error)")
        }
        XCTAssertEqual(try keys.keyPair(named: "client"), pair, "the refused write changed nothing")
        try KeyFolder.write(try CurveKeyPair.generate(), name: "client", folder: folder, replacing: true)
        XCTAssertNotEqual(try keys.keyPair(named: "client"), pair)
        XCTAssertThrowsError(try KeyFolder.write(pair, name: "../etc", folder: folder))
    }

    func testEveryPublicKeyFileIsAllowed() throws {
        let one = try CurveKeyPair.generate(), two = try CurveKeyPair.generate()
        try KeyFolder.write(one, name: "grid", folder: folder)
        try KeyFolder.write(two, name: "alice", folder: folder)
        try "garbage\n".write(toFile: folder + "/broken.pub", atomically: true, encoding: .utf8)
        XCTAssertEqual(KeyFolder(path: folder).allowedKeys(), [one.publicKey, two.publicKey])
    }

    func testADamagedFileIsNamedWithItsLine() throws {
        let pair = try CurveKeyPair.generate(), other = try CurveKeyPair.generate()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let keys = KeyFolder(path: folder)
        try "# comment\n\npublic = \"\(pair.publicKey)\"\nsecret = \"short\"\n".write(toFile: folder + "/bad.key", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try keys.keyPair(named: "bad")) { XCTAssertTrue("\($0)".contains("bad.key:4: 'secret' must be 40 Z85 characters"), "\($0)") }
        try "public = \"\(pair.publicKey)\"\nsecret = \"\(other.secretKey)\"\n".write(toFile: folder + "/mixed.key", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try keys.keyPair(named: "mixed")) { XCTAssertTrue("\($0)".contains("does not belong"), "\($0)") }
        XCTAssertThrowsError(try keys.keyPair(named: "missing")) { XCTAssertTrue("\($0)".contains("no such key file"), "\($0)") }
        try "public: \(pair.publicKey)\n".write(toFile: folder + "/colon.pub", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try keys.publicKey(named: "colon")) { XCTAssertTrue("\($0)".contains("colon.pub:1: expected"), "\($0)") }
    }
}
