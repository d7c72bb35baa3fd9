import GridCore
import XCTest

/// `get`, `put`, `del`, `cas`: arguments, replies, and what they change.
final class DataOperationTests: XCTestCase {
    private var store = PartitionStore(partition: 5, epoch: 2)

    private func run(_ operation: DataOperation, _ key: String, _ arguments: [String] = []) -> OperationOutcome {
        operation.execute(key: bytes(key), arguments: arguments.map(bytes), on: &store)
    }

    private func assertError(_ outcome: OperationOutcome, _ status: Status, _ code: String, version: UInt64 = 0,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(outcome.status, status, file: file, line: line)
        XCTAssertNil(outcome.change, "an error changes nothing", file: file, line: line)
        XCTAssertEqual(outcome.version, version, file: file, line: line)
        let error = GridError(status: outcome.status, payload: outcome.payload)
        XCTAssertEqual(error.code, code, "payload \(text(outcome.payload))", file: file, line: line)
        XCTAssertFalse(error.message.isEmpty, file: file, line: line)
    }

    func testNames() {
        XCTAssertEqual(DataOperation(name: bytes("get")), .get)
        XCTAssertEqual(DataOperation(name: bytes("put")), .put)
        XCTAssertEqual(DataOperation(name: bytes("del")), .del)
        XCTAssertEqual(DataOperation(name: bytes("cas")[...]), .cas)
        for name in ["", "GET", "gets", "ge", "delete", " get", "get\0"] {
            XCTAssertNil(DataOperation(name: bytes(name)), name.debugDescription)
        }
        XCTAssertEqual(DataOperation.allCases.map(\.rawValue), ["get", "put", "del", "cas"])
        XCTAssertEqual(DataOperation.allCases.filter(\.writes), [.put, .del, .cas])
    }

    func testPutRepliesWithTheNewVersionAndTheChange() {
        let outcome = run(.put, "42", ["{\"balance\":100}"])
        XCTAssertEqual(outcome.status, .ok)
        XCTAssertEqual(text(outcome.payload), "1")
        XCTAssertEqual(outcome.version, 1)
        XCTAssertEqual(outcome.change, Change(partition: 5, epoch: 2, sequence: 1, key: bytes("42"), version: 1, kind: .put, value: bytes("{\"balance\":100}")))
        let again = run(.put, "42", ["{}"])
        XCTAssertEqual(text(again.payload), "2")
        XCTAssertEqual(again.version, 2)
    }

    func testGetRepliesWithTheValueAndItsVersion() {
        _ = run(.put, "a", ["x"])
        _ = run(.put, "b", ["y"])
        let outcome = run(.get, "a")
        XCTAssertEqual(outcome, OperationOutcome(status: .ok, payload: bytes("x"), version: 1, change: nil))
        XCTAssertEqual(store.sequence, 2, "a read takes no sequence")
    }

    func testGetAndDelOnAMissingKeyAre404() {
        assertError(run(.get, "nope"), .notFound, "not_found")
        assertError(run(.del, "nope"), .notFound, "not_found")
        XCTAssertEqual(store.sequence, 0)
        XCTAssertEqual(GridError(status: .notFound, payload: run(.get, "nope").payload).message, "no entry for key 'nope'")
    }

    func testDelRepliesWithTheDeleteVersion() {
        _ = run(.put, "k", ["v"])
        let outcome = run(.del, "k")
        XCTAssertEqual(outcome.status, .ok)
        XCTAssertEqual(text(outcome.payload), "2")
        XCTAssertEqual(outcome.change?.kind, .delete)
        XCTAssertEqual(outcome.change?.value, [])
        assertError(run(.get, "k"), .notFound, "not_found")
    }

    func testDeleteThenPutNeverReusesAVersion() {
        let first = run(.put, "k", ["1"]).version
        _ = run(.del, "k")
        let second = run(.put, "k", ["2"]).version
        XCTAssertGreaterThan(second, first)
        // cas with the first incarnation's version is a conflict, not a success.
        assertError(run(.cas, "k", [String(first), "3"]), .conflict, "version_conflict", version: second)
    }

    func testCasWithTheRightVersionWrites() {
        _ = run(.put, "k", ["a"])
        let outcome = run(.cas, "k", ["1", "b"])
        XCTAssertEqual(outcome.status, .ok)
        XCTAssertEqual(text(outcome.payload), "2")
        XCTAssertEqual(outcome.change?.kind, .put)
        XCTAssertEqual(outcome.change?.value, bytes("b"))
        XCTAssertEqual(store.get(bytes("k")), Entry(value: bytes("b"), version: 2))
    }

    func testCasWithAWrongVersionIs409WithTheCurrentVersion() {
        _ = run(.put, "k", ["a"])
        _ = run(.put, "k", ["b"])
        let outcome = run(.cas, "k", ["1", "c"])
        assertError(outcome, .conflict, "version_conflict", version: 2)
        XCTAssertEqual(GridError(status: outcome.status, payload: outcome.payload).message, "expected version 1, the entry is at version 2")
        XCTAssertEqual(store.get(bytes("k"))?.value, bytes("b"))
        XCTAssertEqual(store.sequence, 2)
    }

    func testCasZeroCreatesOnlyWhenAbsent() {
        let created = run(.cas, "k", ["0", "a"])
        XCTAssertEqual(created.status, .ok)
        XCTAssertEqual(created.version, 1)
        assertError(run(.cas, "k", ["0", "b"]), .conflict, "version_conflict", version: 1)
    }

    func testCasNonZeroOnAnAbsentKeyIs404() {
        assertError(run(.cas, "k", ["3", "a"]), .notFound, "not_found")
        XCTAssertNil(store.get(bytes("k")))
    }

    func testCasWithANonNumericVersionIs400() {
        _ = run(.put, "k", ["a"])
        for version in ["", "abc", "-1", "1.0", "1e2", " 1", "1 ", "0x1", "18446744073709551616"] {
            assertError(run(.cas, "k", [version, "b"]), .badRequest, "bad_arguments")
        }
        XCTAssertEqual(store.get(bytes("k")), Entry(value: bytes("a"), version: 1))
    }

    func testWrongArgumentCountsAre400AndChangeNothing() {
        _ = run(.put, "k", ["a"])
        assertError(run(.get, "k", ["extra"]), .badRequest, "bad_arguments")
        assertError(run(.put, "k"), .badRequest, "bad_arguments")
        assertError(run(.put, "k", ["a", "b"]), .badRequest, "bad_arguments")
        assertError(run(.del, "k", ["extra"]), .badRequest, "bad_arguments")
        assertError(run(.cas, "k"), .badRequest, "bad_arguments")
        assertError(run(.cas, "k", ["1"]), .badRequest, "bad_arguments")
        assertError(run(.cas, "k", ["1", "b", "c"]), .badRequest, "bad_arguments")
        XCTAssertEqual(store.sequence, 1)
        XCTAssertEqual(store.get(bytes("k")), Entry(value: bytes("a"), version: 1))
    }

    func testWrittenAndFailureOutcomes() {
        let change = Change(partition: 0, epoch: 1, sequence: 12345, key: [], version: 12345, kind: .put, value: [])
        XCTAssertEqual(OperationOutcome.written(change), OperationOutcome(status: .ok, payload: bytes("12345"), version: 12345, change: change))
        let error = GridError.badKey("k")
        XCTAssertEqual(OperationOutcome.failure(error, version: 4), OperationOutcome(status: .badRequest, payload: error.payload, version: 4, change: nil))
    }
}

final class CasVersionSyntaxTests: XCTestCase {
    func testCasVersionMustBePlainDecimal() {
        var store = PartitionStore(partition: 0, epoch: 1)
        _ = store.put(Array("k".utf8), Array("v".utf8))
        for bad in ["+1", " 1", "1 ", "", "0x1", "-1"] {
            let outcome = DataOperation.cas.execute(key: Array("k".utf8), arguments: [Array(bad.utf8), Array("w".utf8)], on: &store)
            XCTAssertEqual(outcome.status, .badRequest, "version '\(bad)'")
        }
        XCTAssertEqual(store.get(Array("k".utf8))?.value, Array("v".utf8))
    }
}
