import Foundation
import GridCore
import XCTest

/// Error values: stable codes, a JSON payload, and reading payloads back.
final class GridErrorTests: XCTestCase {
    func testPayloadIsTheJSONObjectWithCodeAndMessage() {
        let error = GridError(.notFound, "not_found", "no entry for key '42'")
        XCTAssertEqual(text(error.payload), #"{"code":"not_found","message":"no entry for key '42'"}"#)
        XCTAssertEqual(GridError(status: .notFound, payload: error.payload), error)
    }

    func testPayloadRoundTripsAwkwardText() {
        let messages = [
            #"say "hi""#, #"C:\path\to"#, "line one\nline two", "tab\there", "cr\rlf", "\u{0}nul", "\u{1}\u{1f}\u{7f}",
            "é ☃ 😀 日本", #"\"\\\n"#, "", "}", #"{"code":"x"}"#, "trailing backslash \\",
        ]
        for message in messages {
            let error = GridError(.badRequest, "code \"quoted\"\n", message)
            let back = GridError(status: .badRequest, payload: error.payload)
            XCTAssertEqual(back, error, message.debugDescription)
        }
    }

    func testControlCharactersAreEscapedInThePayload() {
        let payload = GridError(.badRequest, "c", "\"\\\n\r\t\u{1}\u{1f}").payload
        XCTAssertEqual(text(payload), #"{"code":"c","message":"\"\\\n\r\t\u0001\u001f"}"#)
        XCTAssertFalse(payload.contains { $0 < 0x20 }, "no raw control byte may reach the wire")
        XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(payload)), "a standard JSON parser reads it")
    }

    func testStandardJSONParsersAgreeWithThePayload() throws {
        for message in ["a \"b\" \\ c", "\u{1}\u{2}\n", "😀"] {
            let payload = GridError(.conflict, "version_conflict", message).payload
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(payload)) as? [String: String])
            XCTAssertEqual(object, ["code": "version_conflict", "message": message])
        }
    }

    func testANonJSONPayloadBecomesTheMessage() {
        let error = GridError(status: .internalError, payload: Array("something broke".utf8))
        XCTAssertEqual(error, GridError(.internalError, "status_500", "something broke"))
        XCTAssertEqual(GridError(status: .notFound, payload: []), GridError(.notFound, "status_404", ""))
        // JSON, but without a code: still the fallback.
        XCTAssertEqual(GridError(status: .badRequest, payload: Array(#"{"message":"m"}"#.utf8)).code, "status_400")
        XCTAssertEqual(GridError(status: .badRequest, payload: Array(#"["code"]"#.utf8)).message, #"["code"]"#)
    }

    func testAPayloadWithoutAMessageHasAnEmptyOne() {
        XCTAssertEqual(GridError(status: .conflict, payload: Array(#"{"code":"x"}"#.utf8)), GridError(.conflict, "x", ""))
    }

    func testDescriptionNamesStatusCodeAndMessage() {
        XCTAssertEqual(GridError(.unavailable, "no_primary", "later").description, "503 no_primary: later")
    }

    func testStableCodes() {
        let cases: [(GridError, Status, String)] = [
            (.malformed("m"), .badRequest, "malformed"),
            (.unknownSection("s"), .badRequest, "unknown_section"),
            (.unknownOperation("o", section: "s"), .badRequest, "unknown_operation"),
            (.badKey("k"), .badRequest, "bad_key"),
            (.badArguments("a"), .badRequest, "bad_arguments"),
            (.notFound(Array("k".utf8)), .notFound, "not_found"),
            (.versionConflict(expected: 1, actual: 2), .conflict, "version_conflict"),
            (.tooLarge(2_000, limit: 1_024), .tooLarge, "too_large"),
            (.noPrimary(section: "s", partition: 3), .unavailable, "no_primary"),
            (.staleEpoch(partition: 1, epoch: 2, current: nil), .misdirected, "stale_epoch"),
        ]
        for (error, status, code) in cases {
            XCTAssertEqual(error.status, status, code)
            XCTAssertEqual(error.code, code)
            XCTAssertFalse(error.message.isEmpty, code)
        }
        XCTAssertEqual(GridError.unknownSection("x").message, "no section named 'x' in this grid")
        XCTAssertEqual(GridError.tooLarge(2_000, limit: 1_024).message, "request of 2000 bytes exceeds max_message_bytes 1024")
        XCTAssertEqual(GridError.staleEpoch(partition: 1, epoch: 2, current: 3).message,
                       "partition 1 at epoch 2 is not led here (this unit holds epoch 3)")
        XCTAssertEqual(GridError.noPrimary(section: "order", partition: 9).message, "partition 9 of section 'order' has no primary yet")
    }
}
