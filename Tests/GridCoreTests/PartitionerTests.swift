import GridCore
import XCTest

/// Range partitioning: decimal integer keys, half-open ranges, clear failures.
final class PartitionerTests: XCTestCase {
    /// Partition 0: [-50, 0), 1: [0, 100), 2: [100, 200), a gap [200, 300), 3: [300, 400).
    let partitioner = Partitioner.range([-50..<0, 0..<100, 100..<200, 300..<400])

    private func partition(_ key: String) -> Result<Int, Partitioner.Failure> {
        partitioner.partition(of: Array(key.utf8))
    }

    func testPartitionCountIsTheNumberOfRanges() {
        XCTAssertEqual(partitioner.partitionCount, 4)
        XCTAssertEqual(Partitioner.range([]).partitionCount, 0)
    }

    func testStartIsInclusiveEndIsExclusive() {
        XCTAssertEqual(partition("0"), .success(1))
        XCTAssertEqual(partition("99"), .success(1))
        XCTAssertEqual(partition("100"), .success(2))
        XCTAssertEqual(partition("199"), .success(2))
        XCTAssertEqual(partition("300"), .success(3))
        XCTAssertEqual(partition("399"), .success(3))
        XCTAssertEqual(partition("400"), .failure(.keyOutOfRange(400)))
    }

    func testGapBetweenRangesIsOutOfRange() {
        XCTAssertEqual(partition("200"), .failure(.keyOutOfRange(200)))
        XCTAssertEqual(partition("250"), .failure(.keyOutOfRange(250)))
        XCTAssertEqual(partition("299"), .failure(.keyOutOfRange(299)))
    }

    func testNegativeKeys() {
        XCTAssertEqual(partition("-1"), .success(0))
        XCTAssertEqual(partition("-50"), .success(0))
        XCTAssertEqual(partition("-51"), .failure(.keyOutOfRange(-51)))
        XCTAssertEqual(partition("-0"), .success(1))
    }

    func testLeadingZerosAreTheSameInteger() {
        XCTAssertEqual(partition("007"), .success(1))
        XCTAssertEqual(partition("0100"), .success(2))
        XCTAssertEqual(partition("-007"), .success(0))
    }

    func testNonIntegerKeysAreRefused() {
        for key in ["", "-", "--5", "abc", "12a", "a12", "1.5", "1e3", "0x10", "1_000", "1,000", "٣", "１２"] {
            XCTAssertEqual(partition(key), .failure(.keyNotInteger), "key '\(key)'")
        }
    }

    func testSignsOtherThanMinusAndSpacesAreRefused() {
        for key in ["+5", " 5", "5 ", "\t5", "5\n", "- 5", "+-5", "\u{0}5"] {
            XCTAssertEqual(partition(key), .failure(.keyNotInteger), "key '\(key.debugDescription)'")
        }
    }

    func testOverflowIsNotAnIntegerRatherThanWrapping() {
        let wide = Partitioner.range([Int64.min..<Int64.max])
        XCTAssertEqual(wide.partition(of: Array("99999999999999999999".utf8)), .failure(.keyNotInteger))
        XCTAssertEqual(wide.partition(of: Array("9223372036854775808".utf8)), .failure(.keyNotInteger))
        XCTAssertEqual(wide.partition(of: Array("-9223372036854775809".utf8)), .failure(.keyNotInteger))
        // The extremes themselves parse: Int64.min is inside, Int64.max is the excluded end.
        XCTAssertEqual(wide.partition(of: Array("-9223372036854775808".utf8)), .success(0))
        XCTAssertEqual(wide.partition(of: Array("9223372036854775806".utf8)), .success(0))
        XCTAssertEqual(wide.partition(of: Array("9223372036854775807".utf8)), .failure(.keyOutOfRange(Int64.max)))
    }

    func testNoRangesMeansEveryKeyIsOutOfRange() {
        XCTAssertEqual(Partitioner.range([]).partition(of: Array("1".utf8)), .failure(.keyOutOfRange(1)))
        XCTAssertEqual(Partitioner.range([]).partition(of: Array("x".utf8)), .failure(.keyNotInteger))
    }

    func testBinarySearchAgreesWithALinearScanOverManyRanges() {
        // 50 ranges of width 10 with a gap of 5 after each: [0,10) [15,25) ...
        var ranges: [Range<Int64>] = []
        for index in 0..<Int64(50) { ranges.append(index * 15..<index * 15 + 10) }
        let many = Partitioner.range(ranges)
        for value in Int64(-20)...Int64(800) {
            let expected: Result<Int, Partitioner.Failure>
            if let index = ranges.firstIndex(where: { $0.contains(value) }) {
                expected = .success(index)
            } else {
                expected = .failure(.keyOutOfRange(value))
            }
            XCTAssertEqual(many.partition(of: Array(String(value).utf8)), expected, "key \(value)")
        }
    }

    func testAcceptsAnyByteCollection() {
        let key: ArraySlice<UInt8> = Array("x150".utf8).dropFirst()
        XCTAssertEqual(partitioner.partition(of: key), .success(2))
    }
}
