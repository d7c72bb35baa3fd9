import Synchronization

/// When a poll loop should stop: someone called `stop()`, or (for a process's
/// main loop) SIGINT/SIGTERM arrived or the supervising `spacegrid up` died.
///
/// Loops poll with a short timeout, so a stop is seen within one tick;
/// nothing ever blocks forever.
public final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    private let watchesProcess: Bool
    private let supervisor: SupervisorWatch

    /// A signal raised only by `stop()` (in-process grids, tests).
    public init() {
        watchesProcess = false
        supervisor = SupervisorWatch(supervisorPID: nil)
    }

    /// A signal that is also raised by SIGINT/SIGTERM and by the supervisor's death.
    public static func forProcess() -> StopSignal {
        StopSignal(watchesProcess: true, supervisor: .fromEnvironment())
    }

    private init(watchesProcess: Bool, supervisor: SupervisorWatch) {
        self.watchesProcess = watchesProcess
        self.supervisor = supervisor
    }

    public func stop() { flag.store(true, ordering: .releasing) }

    public var isStopped: Bool {
        if flag.load(ordering: .acquiring) { return true }
        guard watchesProcess else { return false }
        return ProcessSignals.pending != 0 || supervisor.supervisorIsGone
    }
}
