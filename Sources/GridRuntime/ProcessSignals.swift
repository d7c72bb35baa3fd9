import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM, caught once per process and read by poll loops.
///
/// The handler only stores the signal number in an atomic (async-signal-safe);
/// loops notice it at their next wake-up, within one poll timeout.
public enum ProcessSignals {
    static let received = Atomic<Int32>(0)

    /// Installs the handlers and ignores SIGPIPE (a closed pipe is an error value, not a death).
    public static func install() {
        signal(SIGINT, processSignalHandler)
        signal(SIGTERM, processSignalHandler)
        signal(SIGPIPE, SIG_IGN)
    }

    /// The last SIGINT or SIGTERM received, or 0.
    public static var pending: Int32 { received.load(ordering: .relaxed) }
}

private func processSignalHandler(_ signal: Int32) {
    ProcessSignals.received.store(signal, ordering: .relaxed)
}

/// Ties a child process's life to its supervisor: when `spacegrid up` dies
/// (even by `kill -9`), its children notice that their parent changed and stop.
public struct SupervisorWatch: Sendable {
    public let supervisorPID: pid_t?

    /// Reads `SPACEGRID_SUPERVISOR_PID`, set by the deployment manager for its children.
    public static func fromEnvironment() -> SupervisorWatch {
        guard let value = getenv("SPACEGRID_SUPERVISOR_PID"), let pid = pid_t(String(cString: value)) else {
            return SupervisorWatch(supervisorPID: nil)
        }
        return SupervisorWatch(supervisorPID: pid)
    }

    public var supervisorIsGone: Bool {
        guard let supervisorPID else { return false }
        return getppid() != supervisorPID
    }
}
