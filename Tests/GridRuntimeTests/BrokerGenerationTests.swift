import Foundation
import GridRuntime
import XCTest

/// The broker's generation file: one more at every start, and no start at all when the
/// file cannot vouch that the new broker's epochs are new.
final class BrokerGenerationTests: XCTestCase {
    private func folder() throws -> String {
        let path = NSTemporaryDirectory() + "spacegrid-generation-\(UUID().uuidString.prefix(8))"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testEveryStartTakesTheNextGeneration() throws {
        let runFolder = try folder()
        XCTAssertEqual(try BrokerGeneration.next(runFolder: runFolder), 0, "the first broker of a run folder")
        XCTAssertEqual(try BrokerGeneration.next(runFolder: runFolder), 1)
        XCTAssertEqual(try BrokerGeneration.next(runFolder: runFolder), 2)
        XCTAssertEqual(try String(contentsOfFile: runFolder + "/broker.generation", encoding: .utf8), "2\n")
    }

    func testAFileThatIsNotAGenerationStopsTheBrokerAndIsKept() throws {
        let runFolder = try folder()
        try FileManager.default.createDirectory(atPath: runFolder, withIntermediateDirectories: true)
        try Data("garbage\n".utf8).write(to: URL(fileURLWithPath: runFolder + "/broker.generation"))
        XCTAssertThrowsError(try BrokerGeneration.next(runFolder: runFolder)) { error in
            XCTAssertTrue("\(error)".contains("not a generation"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: runFolder + "/broker.generation", encoding: .utf8), "garbage\n", "nothing changed")
    }
}
