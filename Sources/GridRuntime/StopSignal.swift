import Synchronization

/// A flag one thread raises and a poll loop checks between wake-ups.
///
/// Loops poll with a short timeout, so a raised flag is seen within one
/// heartbeat interval; nothing ever blocks forever.
public final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public func stop() { flag.store(true, ordering: .releasing) }

    public var isStopped: Bool { flag.load(ordering: .acquiring) }
}
