import Foundation
import Synchronization

/// Runs a poll loop on a thread of its own (never on a Swift concurrency
/// pool thread: the loop blocks in `zmq_poll`), for in-process grids.
///
/// The loop's sockets are created inside `body`, on the thread that owns them.
public final class ServiceThread: Sendable {
    public let name: String
    public let signal = StopSignal()
    private let finished = DispatchSemaphore(value: 0)
    private let failure = FailureBox()

    public init(name: String, body: @escaping @Sendable (StopSignal) throws -> Void) {
        self.name = name
        let signal = self.signal
        let finished = self.finished
        let failure = self.failure
        let thread = Thread {
            do {
                try body(signal)
            } catch {
                failure.value.withLock { $0 = "\(error)" }
            }
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Asks the loop to stop and waits up to `timeoutSeconds` for it; false when it did not stop in time.
    @discardableResult
    public func stop(timeoutSeconds: Double = 5) -> Bool {
        signal.stop()
        guard finished.wait(timeout: .now() + timeoutSeconds) == .success else { return false }
        finished.signal()  // so a second stop() returns at once
        return true
    }

    /// The error the loop ended with, if any.
    public var error: String? { failure.value.withLock { $0 } }
}

/// Holds the loop's error; a class so the thread's closure can share it.
private final class FailureBox: Sendable {
    let value = Mutex<String?>(nil)
}
