import GridTopology
import XCTest

/// Problems with range partitioning: the shape and order of `ranges`, and the
/// keys that belong to one strategy or the other.
final class RangeProblemTests: XCTestCase {
    /// A range section whose `ranges` list is `items` (each `      - item`, from line 11).
    func rangeSection(_ items: String...) -> String {
        ProblemAssertions.section("units: 2", "partitioning: range", "ranges:")
            + items.map { "      - \($0)\n" }.joined()
    }

    func testValidRangeSectionDecodes() throws {
        let topology = try Topology.decode(yaml: rangeSection("[0, 10]", "[10, 20]"))
        XCTAssertEqual(topology.sections.first?.partitioner, .range([0..<10, 10..<20]))
    }

    func testOverlappingRanges() {
        assertProblem(rangeSection("[0, 300]", "[250, 500]"), at: 12, 9,
                      "range [250, 500) overlaps the previous range [0, 300)")
    }

    func testUnsortedRanges() {
        assertProblem(rangeSection("[500, 750]", "[0, 250]"), at: 12, 9,
                      "range [0, 250) starts before the previous range [500, 750)", "sorted by start")
    }

    func testStartMustBeBeforeEnd() {
        assertProblem(rangeSection("[0, 10]", "[500, 500]"), at: 12, 9,
                      "range [500, 500] is empty: start must be less than end")
        assertProblem(rangeSection("[9, 3]"), at: 11, 9, "start must be less than end")
    }

    func testRangeItemsMustBePairsOfIntegers() {
        let found = problems(in: rangeSection("[0, 10, 20]", "20", "[a, 40]", "[40, 5.5]"))
        XCTAssertEqual(found.map(\.line), [11, 12, 13, 14], found.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(found.map(\.column), [9, 9, 10, 14])
        XCTAssertTrue(found[0].message.contains("each range must be a list of two integers [start, end]"))
        XCTAssertTrue(found[0].message.contains("of 3 items"))
        XCTAssertTrue(found[1].message.contains("each range must be a list of two integers"))
        XCTAssertTrue(found[2].message.contains("range start must be an integer, got 'a'"))
        XCTAssertTrue(found[3].message.contains("range end must be an integer, got '5.5'"))
    }

    func testRangesMustBeANonEmptyList() {
        assertProblem(ProblemAssertions.section("units: 2", "partitioning: range", "ranges: 4"), at: 10, 13,
                      "ranges must be a list of [start, end] pairs")
        assertProblem(ProblemAssertions.section("units: 2", "partitioning: range", "ranges: []"), at: 10, 13,
                      "ranges must list at least one")
    }

    func testRangesWithHash() {
        assertProblem(ProblemAssertions.section("units: 2", "ranges:", "  - [0, 10]"), at: 9, 5,
                      "ranges is only allowed with 'partitioning: range'")
        assertProblem(ProblemAssertions.section("units: 2", "partitioning: hash", "ranges: [[0, 10]]"), at: 10, 5,
                      "ranges is only allowed with 'partitioning: range'")
    }

    func testPartitionsWithRange() {
        let yaml = ProblemAssertions.section("units: 2", "partitioning: range", "partitions: 4", "ranges:")
            + "      - [0, 10]\n"
        assertProblem(yaml, at: 10, 5, "partitions is not allowed with range partitioning",
                      "the partition count is the number of ranges")
    }

    func testRangeWithoutRanges() {
        assertProblem(ProblemAssertions.section("units: 2", "partitioning: range"), at: 8, 5,
                      "section 'customer' is missing the required key 'ranges'")
    }

    func testEveryBadRangeIsReported() {
        let found = problems(in: rangeSection("[0, 100]", "[50, 150]", "[10, 20]", "[300, 200]"))
        XCTAssertEqual(found.map(\.line), [12, 13, 14], found.map(\.description).joined(separator: "\n"))
        XCTAssertTrue(found[0].message.contains("overlaps"))
        XCTAssertTrue(found[1].message.contains("starts before"))
        XCTAssertTrue(found[2].message.contains("start must be less than end"))
    }
}
