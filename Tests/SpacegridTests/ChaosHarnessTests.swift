import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A short seeded run of `scripts/chaos` (the fault harness with its history checker)
/// on the built binary: every nemesis once or more, and no violation. The long runs are
/// by hand (`scripts/chaos --duration 600`).
final class ChaosHarnessTests: XCTestCase {
    private var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func testEveryNemesisInTurnLeavesNoViolation() throws {
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", "import zmq"]
        try python.run()
        python.waitUntilExit()
        XCTAssertEqual(python.terminationStatus, 0, "pyzmq is missing: scripts/test installs it (pip install pyzmq)")
        guard python.terminationStatus == 0 else { return }

        let output = FileManager.default.temporaryDirectory.appendingPathComponent("chaos-\(UUID().uuidString.prefix(8)).out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        let chaos = Process()
        chaos.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        chaos.arguments = ["python3", repository.appendingPathComponent("scripts/chaos").path,
                           "--seed", "7", "--duration", "64", "--binary", Spacegrid.executable]
        chaos.standardOutput = handle
        chaos.standardError = handle
        try chaos.run()
        let finished = eventually(timeoutSeconds: 900) { !chaos.isRunning }
        if !finished { kill(chaos.processIdentifier, SIGINT) }
        chaos.waitUntilExit()
        try handle.close()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        XCTAssertTrue(finished, "the harness did not finish in 15 minutes:\n\(text)")
        XCTAssertEqual(chaos.terminationStatus, 0, text)

        // The last line: `chaos: N operations, K faults, V violations`.
        let summary = text.split(separator: "\n").last { $0.hasPrefix("chaos: ") && $0.contains("violations") }.map(String.init) ?? ""
        let numbers = summary.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        XCTAssertEqual(numbers.count, 3, "no summary line:\n\(text)")
        guard numbers.count == 3 else { return }
        XCTAssertGreaterThan(numbers[0], 1_000, "the workload ran")
        XCTAssertGreaterThanOrEqual(numbers[1], 8, "every nemesis struck at least once")
        XCTAssertEqual(numbers[2], 0, "violations:\n\(text)")
        print(summary)
    }
}
