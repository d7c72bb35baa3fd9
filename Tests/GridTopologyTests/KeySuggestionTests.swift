@testable import GridTopology
import XCTest

/// The edit distance behind "did you mean ...?", and when a suggestion is offered.
final class KeySuggestionTests: XCTestCase {
    static let sectionKeys = [
        "units", "partitions", "partitioning", "ranges", "backups", "mode", "replication_interval",
    ]

    func testEditDistance() {
        XCTAssertEqual(KeySuggestion.editDistance("", ""), 0)
        XCTAssertEqual(KeySuggestion.editDistance("units", ""), 5)
        XCTAssertEqual(KeySuggestion.editDistance("", "mode"), 4)
        XCTAssertEqual(KeySuggestion.editDistance("partitons", "partitions"), 1)
        XCTAssertEqual(KeySuggestion.editDistance("kitten", "sitting"), 3)
        XCTAssertEqual(KeySuggestion.editDistance("mode", "mdoe"), 2)
        XCTAssertEqual(KeySuggestion.editDistance("café", "cafe"), 1, "counted in Unicode scalars")
    }

    func testClosestWithinTwoEdits() {
        let keys = Self.sectionKeys
        XCTAssertEqual(KeySuggestion.closest(to: "partitons", among: keys), "partitions")
        XCTAssertEqual(KeySuggestion.closest(to: "partitionin", among: keys), "partitioning")
        XCTAssertEqual(KeySuggestion.closest(to: "Units", among: keys), "units", "case does not count")
        XCTAssertEqual(KeySuggestion.closest(to: "backup", among: keys), "backups")
        XCTAssertEqual(KeySuggestion.closest(to: "replication_intervall", among: keys), "replication_interval")
        XCTAssertNil(KeySuggestion.closest(to: "colour", among: keys))
        XCTAssertNil(KeySuggestion.closest(to: "replication", among: keys), "nine edits away")
        XCTAssertNil(KeySuggestion.closest(to: "anything", among: []))
    }

    func testTheNearestCandidateWinsAndTiesGoToTheFirst() {
        // "partition" is one edit from "partitions" and three from "partitioning".
        XCTAssertEqual(KeySuggestion.closest(to: "partition", among: ["partitioning", "partitions"]), "partitions")
        // "mod" is one edit from both "mode" and "mob": the first listed wins.
        XCTAssertEqual(KeySuggestion.closest(to: "mod", among: ["mob", "mode"]), "mob")
        XCTAssertEqual(KeySuggestion.closest(to: "mod", among: ["mode", "mob"]), "mode")
    }

    func testHintText() {
        XCTAssertEqual(KeySuggestion.hint(for: "snyc", among: ["sync", "async"]), "; did you mean 'sync'?")
        XCTAssertEqual(KeySuggestion.hint(for: "fast", among: ["sync", "async"]), "")
    }
}
