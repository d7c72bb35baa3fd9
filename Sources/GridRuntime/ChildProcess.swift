#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn` (never `fork` after a ZeroMQ
/// context exists: ZEROMQ.md, trap 8), its output appended to a log file.
public struct ChildProcess: Sendable {
    public let pid: pid_t

    /// How a child ended.
    public enum Exit: Sendable, Equatable, CustomStringConvertible {
        case code(Int32)
        case signal(Int32)

        public var description: String {
            switch self {
            case .code(let code): return "exit code \(code)"
            case .signal(let signal): return "signal \(signal)\(signal == SIGKILL ? " (SIGKILL)" : signal == SIGTERM ? " (SIGTERM)" : "")"
            }
        }
    }

    /// Starts `executable` with `arguments`, the current environment plus `environment`,
    /// standard input from /dev/null and standard output and error appended to `logPath`.
    public static func spawn(executable: String, arguments: [String], environment: [String: String], logPath: String) throws(SpawnError) -> ChildProcess {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&fileActions, 1, 2)

        var merged: [String: String] = [:]
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                merged[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            index += 1
        }
        for (key, value) in environment { merged[key] = value }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &fileActions, nil, argv, envp)
        guard rc == 0 else { throw SpawnError(executable: executable, errno: rc) }
        return ChildProcess(pid: pid)
    }

    /// The child's exit when it has ended (reaping it), nil while it runs.
    public func poll() -> Exit? {
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        guard rc == pid else { return rc < 0 ? .code(-1) : nil }
        return Self.decode(status)
    }

    public func signal(_ signal: Int32) {
        kill(pid, signal)
    }

    static func decode(_ status: Int32) -> Exit {
        // WIFEXITED / WTERMSIG are macros Swift cannot import.
        let termination = status & 0x7f
        return termination == 0 ? .code((status >> 8) & 0xff) : .signal(termination)
    }
}

public struct SpawnError: Error, Sendable, CustomStringConvertible {
    public let executable: String
    public let errno: Int32
    public var description: String { "could not start \(executable): \(String(cString: strerror(errno)))" }
}
