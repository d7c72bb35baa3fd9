import GridCore
import XCTest

/// Reply statuses: three ASCII digits on the wire.
final class StatusTests: XCTestCase {
    func testTheCodesAreStable() {
        let expected: [(Status, UInt16)] = [
            (.ok, 200), (.badRequest, 400), (.notFound, 404), (.conflict, 409), (.tooLarge, 413),
            (.misdirected, 421), (.internalError, 500), (.notImplemented, 501), (.unavailable, 503), (.timeout, 504),
        ]
        XCTAssertEqual(Status.allCases.count, expected.count)
        for (status, code) in expected { XCTAssertEqual(status.rawValue, code) }
    }

    func testAsciiIsTheThreeDigits() {
        XCTAssertEqual(Status.ok.ascii, [0x32, 0x30, 0x30])
        XCTAssertEqual(Status.conflict.ascii, [0x34, 0x30, 0x39])
        XCTAssertEqual(Status.timeout.ascii, [0x35, 0x30, 0x34])
        for status in Status.allCases {
            XCTAssertEqual(status.ascii, Array(String(status.rawValue).utf8))
        }
    }

    func testEveryCaseRoundTrips() {
        for status in Status.allCases {
            XCTAssertEqual(Status(ascii: status.ascii), status)
            XCTAssertEqual(Status(ascii: status.ascii[...]), status)
        }
    }

    func testInvalidDigitsAreRejected() {
        let invalid: [[UInt8]] = [
            [], Array("20".utf8), Array("2000".utf8), Array("0200".utf8), Array("20a".utf8), Array(" 200".utf8),
            Array("200 ".utf8), Array("+20".utf8), Array("-20".utf8), Array("2.0".utf8),
            Array("201".utf8), Array("000".utf8), Array("999".utf8), Array("100".utf8), // digits, but no such status
            Array("２００".utf8), [0x32, 0x30, 0x30 + 10], [0x32, 0x2f, 0x30], [0, 0, 0], [0xff, 0xff, 0xff],
        ]
        for bytes in invalid { XCTAssertNil(Status(ascii: bytes), "\(bytes)") }
    }

    func testOnlyOkIsSuccess() {
        XCTAssertEqual(Status.allCases.filter(\.isSuccess), [.ok])
    }
}
